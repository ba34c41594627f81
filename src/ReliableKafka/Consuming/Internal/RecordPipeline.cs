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
    // A record waiting for its deduplication store is tried again after about this pause, doubling up to the maximum (with jitter).
    private static readonly TimeSpan FirstRetryPause = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxRetryPause = TimeSpan.FromSeconds(30);

    private readonly EngineContext _context;
    private readonly IRecordHandler _handler;
    private readonly Deduplicator? _dedup;
    private readonly Admission _admission;
    private readonly IFailurePolicy _failurePolicy;
    private readonly IRecordRouting? _routing;
    private readonly Func<ConsumeResult<byte[]?, byte[]?>, bool> _linksTo;
    private readonly ResiliencePipeline _retry;
    private int _deserializerFailing;
    private readonly SemaphoreSlim _concurrency;

    public RecordPipeline(EngineContext context, IRecordHandler handler, Deduplicator? dedup, Admission admission, IFailurePolicy failurePolicy, IRecordRouting? routing = null)
    {
        _routing = routing;
        _linksTo = LinksTo;
        _context = context;
        _handler = handler;
        _dedup = dedup;
        _admission = admission;
        _failurePolicy = failurePolicy;
        _retry = context.AtMostOnce ? ResiliencePipeline.Empty : RetryPipelines.Build(context.Options.Retry, context.Time);
        _concurrency = new SemaphoreSlim(context.Options.MaxConcurrency, context.Options.MaxConcurrency);
        RunLane = lane => _ = RunLaneAsync(lane);
    }

    /// <summary>Gets how many records wait for an asynchronous deserializer that keeps failing (a Schema Registry that cannot be reached, say).</summary>
    public int DeserializerFailing => Volatile.Read(ref _deserializerFailing);

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
        var activity = Tracing.StartProcess(record, _context.GroupId, _linksTo);
        var started = _context.Metrics.MeasuresProcessing ? _context.Time.GetTimestamp() : 0;
        string? failed = null;
        try
        {
            if (_routing is not null && await _routing.TryFollowAsync(state, record, token).ConfigureAwait(false))
            {
                return; // its key is parked: it followed the record its key waits for
            }

            object prepared;
            try
            {
                prepared = await _handler.PrepareAsync(record, token).ConfigureAwait(false);
            }
            catch (MessageDeserializationException e) when (_handler.DeserializesAsynchronously && IsPassing(e) && !token.IsCancellationRequested)
            {
                prepared = await WaitForTheDeserializerAsync(state, record, e, token).ConfigureAwait(false);
            }
            catch (MessageDeserializationException e) when (!token.IsCancellationRequested)
            {
                // Poison (a synchronous deserializer's failure, or an asynchronous one's that another try cannot fix).
                failed = Tracing.Failed(activity, e);
                await _failurePolicy.ApplyAsync(new FailedRecord(state, record, e, Attempts: 0), token).ConfigureAwait(false);
                return;
            }

            var run = new AttemptRun(this, state, lane, prepared, record.Offset.Value);
            if (_dedup is not null)
            {
                run = run with { Key = _dedup.KeyOf(_handler.SelectMessageId(prepared), record), Claim = new ClaimOwner(_dedup.NewOwner()) };
            }

            if (!await RunAttemptsUntilDoneAsync(run, record, token).ConfigureAwait(false))
            {
                return;
            }

            _context.Metrics.Handled();
            if (!_context.AtMostOnce)
            {
                if (_routing is not null)
                {
                    await _routing.HandledAsync(record, token).ConfigureAwait(false);
                }

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
            failed = Tracing.Failed(activity, e);
            await _failurePolicy.ApplyAsync(new FailedRecord(state, record, e, lane.Attempts), token).ConfigureAwait(false);
        }
        finally
        {
            _admission.Release(state, 1);
            if (started != 0 && !token.IsCancellationRequested)
            {
                _context.Metrics.Processed(state.TopicPartition, _context.Time.GetElapsedTime(started), failed);
            }

            Tracing.Stop(activity);
        }
    }

    /// <summary>Whether the record's process span links to the context in its headers instead of being its child (<see cref="ConsumerOptions.TraceContext"/>).</summary>
    private bool LinksTo(ConsumeResult<byte[]?, byte[]?> record) => _context.Options.TraceContext switch
    {
        TraceContextUse.Link => true,
        TraceContextUse.LinkRetries => _context.Retries?.IsRetryTopic(record.Topic) == true,
        _ => false,
    };

    /// <summary>Whether an asynchronous deserializer's failure may pass (by <see cref="RetryOptions.IsTransientDeserializationFailure"/>).</summary>
    private bool IsPassing(MessageDeserializationException e) =>
        !_context.AtMostOnce
        && e.InnerException is { } cause
        && (_context.Options.Retry.IsTransientDeserializationFailure ?? RetryOptions.IsTransientDeserializationFailureByDefault)(cause);

    /// <summary>
    /// After an asynchronous deserializer failed in a way that may pass: deserializes again after growing pauses (with
    /// jitter) until it works, the failure turns out final (then the record is poison), or the record's work is abandoned.
    /// Like a failing deduplication store, this holds the record (and its key) without losing it, and is reported.
    /// </summary>
    private async ValueTask<object> WaitForTheDeserializerAsync(PartitionState state, ConsumeResult<byte[]?, byte[]?> record, MessageDeserializationException failure, CancellationToken token)
    {
        var failing = false;
        var pending = failure;
        var waits = Backoffs.UntilItWorks(
            FirstRetryPause,
            MaxRetryPause,
            _context.Time,
            e => e is MessageDeserializationException m && IsPassing(m),
            (e, pause) =>
            {
                if (!failing)
                {
                    failing = true;
                    Interlocked.Increment(ref _deserializerFailing);
                }

                Log.DeserializationFailed(_context.Logger, _context.Name, state.TopicPartition, record.Offset.Value, pause, e.InnerException ?? e);
            });
        try
        {
            return await waits.ExecuteAsync(
                async cancellationToken =>
                {
                    if (pending is { } first)
                    {
                        pending = null;
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
                    }

                    return await _handler.PrepareAsync(record, cancellationToken).ConfigureAwait(false);
                },
                token).ConfigureAwait(false);
        }
        finally
        {
            if (failing)
            {
                Interlocked.Decrement(ref _deserializerFailing);
            }
        }
    }

    /// <summary>
    /// Runs the record's attempts; when they fail and the routing says so (the last retry topic), waits and runs them
    /// again in place, then lets the failure go to the failure policy.
    /// </summary>
    private async ValueTask<bool> RunAttemptsUntilDoneAsync(AttemptRun run, ConsumeResult<byte[]?, byte[]?> record, CancellationToken token)
    {
        var retriedInPlace = 0;
        while (true)
        {
            try
            {
                return await RunAttemptsAsync(run, token).ConfigureAwait(false);
            }
            catch (Exception e) when (!token.IsCancellationRequested && _routing?.RetryInPlaceAfter(record, e, retriedInPlace) is { } pause)
            {
                retriedInPlace++;
                Log.AttemptFailed(_context.Logger, _context.Name, run.State.TopicPartition, run.Offset, run.Lane.Attempts, e);
                _context.Metrics.Retry(run.State.TopicPartition);

                // A partition that stops (revoked, shut down) does not wait out the backoff: the record is left unfinished
                // for its next owner at once.
                using var waiting = CancellationTokenSource.CreateLinkedTokenSource(token, run.State.Stopping);
                try
                {
                    await Task.Delay(pause, _context.Time, waiting.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!token.IsCancellationRequested)
                {
                    return false;
                }
            }
        }
    }

    /// <summary>
    /// Runs the record's attempts through the retry pipeline; false when the partition was let go meanwhile. A
    /// deduplication store failure is no attempt failure: the record waits, with growing pauses (with jitter), and
    /// starts over.
    /// </summary>
    private async ValueTask<bool> RunAttemptsAsync(AttemptRun run, CancellationToken token)
    {
        try
        {
            return await RunAttemptsOnceAsync(run, token).ConfigureAwait(false);
        }
        catch (DeduplicationRetryException e) when (e.StoreFailed && !token.IsCancellationRequested)
        {
            return await WaitForTheStoreAsync(run, e, token).ConfigureAwait(false);
        }
    }

    /// <summary>The attempts; a claim that had to be given up (not a store failure) starts them over at once.</summary>
    private async ValueTask<bool> RunAttemptsOnceAsync(AttemptRun run, CancellationToken token)
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
            catch (DeduplicationRetryException e) when (!e.StoreFailed && !token.IsCancellationRequested)
            {
            }
        }
    }

    /// <summary>
    /// After a store failure: starts the attempts over after growing pauses until the store answers, counted as failing
    /// meanwhile (health check, <see cref="Deduplicator.Failing"/>).
    /// </summary>
    private async ValueTask<bool> WaitForTheStoreAsync(AttemptRun run, DeduplicationRetryException failure, CancellationToken token)
    {
        var failing = false;
        var dedup = _dedup!;
        var pending = failure;
        var waits = Backoffs.UntilItWorks(
            FirstRetryPause,
            MaxRetryPause,
            _context.Time,
            static e => e is DeduplicationRetryException { StoreFailed: true },
            (e, pause) => dedup.Failed(ref failing, run.State.TopicPartition, run.Offset, pause, e));
        try
        {
            return await waits.ExecuteAsync(
                async cancellationToken =>
                {
                    // The failure that led here is the first one to wait after.
                    if (pending is { } first)
                    {
                        pending = null;
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
                    }

                    return await RunAttemptsOnceAsync(run, cancellationToken).ConfigureAwait(false);
                },
                token).ConfigureAwait(false);
        }
        finally
        {
            dedup.Recovered(ref failing);
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
                    lane.HandlerStartedAt = Math.Max(_context.Time.GetTimestamp(), 1);
                    await _handler.HandleAsync(run.Prepared, attempt, dedup?.Transactional is { } store ? run.BeginTransaction(dedup, store, owner, token) : null, token).ConfigureAwait(false);
                    handled = true;
                }
                catch (Exception e) when (!token.IsCancellationRequested && attempt < _context.Options.Retry.MaxAttempts && RetryPipelines.IsRetriable(_context.Options.Retry, e))
                {
                    // Logged and counted here, where the record is known; a custom pipeline reports its own retries.
                    Log.AttemptFailed(_context.Logger, _context.Name, state.TopicPartition, run.Offset, attempt, e);
                    _context.Metrics.Retry(state.TopicPartition);
                    throw;
                }
            }
            finally
            {
                lane.HandlerStartedAt = 0;
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
