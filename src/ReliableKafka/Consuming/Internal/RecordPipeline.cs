using Confluent.Kafka;
using Polly;
using ReliableKafka.Deduplication.Internal;
using ReliableKafka.Diagnostics.Internal;
using ReliableKafka.Failures.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// What a lane does with each of its records, on the thread pool: deserialize, then attempts through the retry
/// pipeline (each one: claim in the deduplication store, run the handler holding a concurrency slot, complete or
/// release the claim), then the failure policy for a record that failed for good. A finished record is marked in its
/// partition's offset tracker; a record whose work was abandoned (revoked, lost, shut down) is left unfinished.
/// </summary>
/// <remarks>
/// Not disposable on purpose: a handler abandoned after a timeout may still release its concurrency slot after the
/// engine stopped, and the semaphore holds no unmanaged resource (its wait handle is never requested).
/// </remarks>
#pragma warning disable CA1001 // See remarks.
internal sealed class RecordPipeline
#pragma warning restore CA1001
{
    // A record waiting for its deduplication store is tried again after this pause, doubling up to the maximum.
    private static readonly TimeSpan FirstRetryPause = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxRetryPause = TimeSpan.FromSeconds(30);

    private readonly EngineContext _context;
    private readonly IRecordHandler _handler;
    private readonly Deduplicator? _dedup;
    private readonly Admission _admission;
    private readonly IFailurePolicy _failurePolicy;
    private readonly ResiliencePipeline _retry;
    private readonly SemaphoreSlim _concurrency;

    public RecordPipeline(EngineContext context, IRecordHandler handler, Deduplicator? dedup, Admission admission, IFailurePolicy failurePolicy)
    {
        _context = context;
        _handler = handler;
        _dedup = dedup;
        _admission = admission;
        _failurePolicy = failurePolicy;
        _retry = context.AtMostOnce ? ResiliencePipeline.Empty : RetryPipelines.Build(context.Options.Retry, context.Time);
        _concurrency = new SemaphoreSlim(context.Options.MaxConcurrency, context.Options.MaxConcurrency);
        RunLane = lane => _ = RunLaneAsync(lane);
    }

    /// <summary>Gets what a lane runs when it is started (its records, one at a time, until it is empty).</summary>
    public Action<Lane> RunLane { get; }

    private async Task RunLaneAsync(Lane lane)
    {
        var state = lane.Partition;
        while (true)
        {
            if (!state.TryDequeue(lane, out var record, out var dropped))
            {
                if (dropped > 0)
                {
                    _admission.Release(state, dropped);
                }

                return;
            }

            await ProcessAsync(state, lane, record).ConfigureAwait(false);
        }
    }

    private async Task ProcessAsync(PartitionState state, Lane lane, ConsumeResult<byte[]?, byte[]?> record)
    {
        var token = state.Cancellation.Token;
        lane.Attempts = 0;
        try
        {
            object prepared;
            try
            {
                prepared = _handler.Prepare(record, token);
            }
            catch (MessageDeserializationException e)
            {
                // Poison: another attempt cannot read it either.
                await _failurePolicy.ApplyAsync(new FailedRecord(state, record, e, Attempts: 0), token).ConfigureAwait(false);
                return;
            }

            var run = new AttemptRun(this, state, lane, prepared, record.Offset.Value);
            if (_dedup is not null)
            {
                run = run with { Key = _dedup.KeyOf(_handler.SelectMessageId(prepared), record), Claim = new ClaimOwner(_dedup.NewOwner()) };
            }

            if (await RunAttemptsAsync(run, token).ConfigureAwait(false) && !_context.AtMostOnce)
            {
                state.Offsets.Complete(record.Offset.Value);
            }
        }
        catch (Exception) when (token.IsCancellationRequested)
        {
            // Revoked, lost or shut down past the timeout: abandoned, left uncommitted for the next owner. Whatever
            // the handler threw once its work was abandoned (a disposed service, a cancelled call) is no verdict on
            // the record, so no failure policy applies.
        }
        catch (Exception e)
        {
            await _failurePolicy.ApplyAsync(new FailedRecord(state, record, e, lane.Attempts), token).ConfigureAwait(false);
        }
        finally
        {
            _admission.Release(state, 1);
        }
    }

    /// <summary>
    /// Runs the record's attempts through the retry pipeline; false when the partition was let go meanwhile. A
    /// deduplication store failure is no attempt failure: the record waits, with growing pauses, and starts over.
    /// </summary>
    private async ValueTask<bool> RunAttemptsAsync(AttemptRun run, CancellationToken token)
    {
        var pause = FirstRetryPause;
        var failing = false;
        try
        {
            while (true)
            {
                try
                {
                    return await _retry.ExecuteAsync(
                        static (run, cancellationToken) => run.Pipeline.AttemptAsync(run, cancellationToken),
                        run,
                        token).ConfigureAwait(false);
                }
                catch (DeduplicationRetryException e) when (!token.IsCancellationRequested)
                {
                    if (e.StoreFailed)
                    {
                        _dedup!.Failed(ref failing, run.State.TopicPartition, run.Offset, pause, e);
                        await Task.Delay(pause, _context.Time, token).ConfigureAwait(false);
                        pause = pause * 2 < MaxRetryPause ? pause * 2 : MaxRetryPause;
                    }
                }
            }
        }
        finally
        {
            _dedup?.Recovered(ref failing);
        }
    }

    /// <summary>
    /// One attempt: claims the record when deduplicating (true without running the handler when it was processed
    /// before), runs the handler holding a concurrency slot (not during backoff), then completes the claim, or
    /// releases it when the handler failed. False when the partition was let go meanwhile.
    /// </summary>
    private async ValueTask<bool> AttemptAsync(AttemptRun run, CancellationToken token)
    {
        var (state, lane) = (run.State, run.Lane);
        var dedup = _dedup;
        var claim = run.Claim;
        var owner = claim?.Current ?? Guid.Empty;
        if (dedup is not null && claim is not null)
        {
            if (claim.ReleasePending is { } earlier)
            {
                // The claim of an earlier attempt is released first, so this attempt does not wait for its lease.
                await dedup.ReleaseUntilDoneAsync(run.Key, earlier, state.TopicPartition, run.Offset, token).ConfigureAwait(false);
                claim.ReleasePending = null;
            }

            if (!await dedup.ClaimAsync(run.Key, owner, state.TopicPartition, run.Offset, token).ConfigureAwait(false))
            {
                return true;
            }
        }

        dedup?.Hold(run.Key, owner, state.TopicPartition, run.Offset);
        var handled = false;
        try
        {
            await _concurrency.WaitAsync(token).ConfigureAwait(false);
            try
            {
                if (state.DropsQueued)
                {
                    return false;
                }

                var attempt = ++lane.Attempts;
                try
                {
                    await _handler.HandleAsync(run.Prepared, attempt, dedup?.Transactional is { } store ? run.BeginTransaction(dedup, store, owner, token) : null, token).ConfigureAwait(false);
                    handled = true;
                }
                catch (Exception e) when (!token.IsCancellationRequested && attempt < _context.Options.Retry.MaxAttempts && RetryPipelines.IsRetriable(_context.Options.Retry, e))
                {
                    // Logged and counted here, where the record is known; a custom pipeline reports its own retries.
                    Log.AttemptFailed(_context.Logger, _context.Name, state.TopicPartition, run.Offset, attempt, e);
                    ConsumerMetrics.Retry(_context.Name, _context.GroupId, state.TopicPartition);
                    throw;
                }
            }
            finally
            {
                _concurrency.Release();
            }
        }
        finally
        {
            if (dedup is not null && claim is not null && !handled)
            {
                dedup.Unhold(owner);
                var released = await dedup.ReleaseAsync(run.Key, owner, state.TopicPartition, run.Offset).ConfigureAwait(false);

                // After a release, the next attempt claims under a new owner (see ClaimOwner).
                claim.Current = dedup.NewOwner();
                claim.ReleasePending = released ? null : owner;
            }
        }

        if (dedup is { Transactional: null })
        {
            try
            {
                await dedup.CompleteAsync(run.Key, owner, state.TopicPartition, run.Offset, token).ConfigureAwait(false);
            }
            finally
            {
                dedup.Unhold(owner);
            }
        }
        else
        {
            dedup?.Unhold(owner);
        }

        return true;
    }
}
