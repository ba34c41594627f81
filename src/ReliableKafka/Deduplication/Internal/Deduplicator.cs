using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using ReliableKafka.Diagnostics.Internal;
using ReliableKafka.Failures.Internal;

namespace ReliableKafka.Deduplication.Internal;

/// <summary>
/// One consumer's side of the deduplication protocol: the message id of a record, and the store calls with their
/// waiting, retrying and reporting. Store failures surface as <see cref="DeduplicationRetryException"/>, never as
/// handler failures, so a store outage neither dead-letters records nor marks them finished.
/// </summary>
internal sealed class Deduplicator
{
    private static readonly TimeSpan FirstClaimPoll = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxClaimPoll = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan FirstCompletionRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxCompletionRetry = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ReleaseTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ClaimWaitMargin = TimeSpan.FromSeconds(10);

    private readonly IDeduplicationStore _store;
    private readonly string _consumer;
    private readonly string _scope;
    private readonly Diagnostics.Internal.ConsumerInstruments _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _lease;
    private readonly TimeSpan _claimWait;
    private readonly int _ownerPrefix = Random.Shared.Next();
    private readonly short _ownerPrefix2 = (short)Random.Shared.Next();
    private readonly short _ownerPrefix3 = (short)Random.Shared.Next();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, HeldClaim> _held = new();
    private long _owners;
    private int _failing;
    private int _renewing;
    private long _possibleDuplicates;

    // A copy in a retry topic is the same record as its source record: without a message id, it is identified by its origin.
    private readonly Failures.Internal.Retry.RetryLevels? _levels;

    public Deduplicator(IDeduplicationStore store, DeduplicationOptions options, string consumer, string groupId, ILogger logger, TimeProvider time, Failures.Internal.Retry.RetryLevels? levels = null, Diagnostics.Internal.ConsumerInstruments? metrics = null)
    {
        _metrics = metrics ?? Diagnostics.Internal.ReliableKafkaMetrics.Shared.ForConsumer(consumer, groupId);
        _levels = levels;
        _store = store;
        Transactional = store as ITransactionalDeduplicationStore;
        _consumer = consumer;
        _scope = groupId;
        _logger = logger;
        _time = time;
        _lease = options.LeaseDuration;
        _claimWait = options.ClaimWaitTimeout ?? options.LeaseDuration + ClaimWaitMargin;
    }

    /// <summary>Gets the store as a transactional one, when it is (the handler then runs inside its transaction).</summary>
    public ITransactionalDeduplicationStore? Transactional { get; }

    /// <summary>Gets how many records currently wait for the store to work again (0 when healthy).</summary>
    public int Failing => Volatile.Read(ref _failing);

    /// <summary>
    /// Gets how many handled records found their claim taken over by another owner when their completion was recorded:
    /// the other owner may have run the handler too (a possible duplicate effect).
    /// </summary>
    public long PossibleDuplicates => Interlocked.Read(ref _possibleDuplicates);

    /// <summary>
    /// A new owner for a delivery of a record: unique across processes (8 random bytes per consumer instance, then a
    /// counter) and cheaper than a random Guid per record.
    /// </summary>
    public Guid NewOwner()
    {
        var n = (ulong)Interlocked.Increment(ref _owners);
        return new Guid(_ownerPrefix, _ownerPrefix2, _ownerPrefix3, (byte)(n >> 56), (byte)(n >> 48), (byte)(n >> 40), (byte)(n >> 32), (byte)(n >> 24), (byte)(n >> 16), (byte)(n >> 8), (byte)n);
    }

    /// <summary>The record's key: the selected id, else the message id header, else the record's <see cref="DeliveryOf">delivery</see>.</summary>
    public DeduplicationKey KeyOf(string? selectedId, ConsumeResult<byte[]?, byte[]?> record) =>
        new(_scope, selectedId ?? Producing.Internal.MessageIds.Read(record.Message.Headers) ?? _levels?.OriginOf(record).Delivery ?? DeliveryOf(record));

    /// <summary>
    /// The key that guards the dead-letter write of this copy of a record: its <see cref="DeliveryOf">delivery</see>
    /// (a retry topic's copy: its source record's, so that copies sent twice after a crash are dead-lettered once)
    /// with a suffix, not its message id. A copy redelivered after a crash has the same delivery, so it is not written
    /// twice; a redriven (or resent) copy that fails again is another delivery, so it is dead-lettered again.
    /// </summary>
    public DeduplicationKey DeadLetterKeyOf(ConsumeResult<byte[]?, byte[]?> record) => new(_scope, (_levels?.OriginOf(record).Delivery ?? DeliveryOf(record)) + "#dead-letter");

    /// <summary>
    /// Identifies one record of the log: <c>topic/partition@offset/timestamp</c> (the record's timestamp in Unix
    /// milliseconds). The timestamp tells apart the records of a topic that was deleted and created again, whose
    /// offsets start over: a new record at an old offset is not mistaken for the old one, unless it also carries the
    /// very same timestamp (a producer that sets timestamps explicitly and replays the same ones).
    /// </summary>
    public static string DeliveryOf(ConsumeResult<byte[]?, byte[]?> record) => string.Create(
        CultureInfo.InvariantCulture, $"{record.Topic}/{record.Partition.Value}@{record.Offset.Value}/{record.Message.Timestamp.UnixTimestampMs}");

    /// <summary>
    /// Records that <paramref name="owner"/> starts a record's dead-letter write; true when an earlier owner had started
    /// one (and crashed before completing it): the write may have happened, so the caller looks before writing again.
    /// </summary>
    public async ValueTask<bool> MarkDeadLetterStartedAsync(DeduplicationKey deadLetterKey, Guid owner, CancellationToken token)
    {
        var started = deadLetterKey with { MessageId = deadLetterKey.MessageId + "-started" };
        try
        {
            while (true)
            {
                var claim = await _store.ClaimAsync(started, owner, _lease, token).ConfigureAwait(false);
                switch (claim.Status)
                {
                    case ClaimStatus.AlreadyProcessed:
                        return true;
                    case ClaimStatus.Claimed:
                        await _store.CompleteAsync(started, owner, token).ConfigureAwait(false);
                        return false;
                    default:
                        // Another owner is between claiming and marking: a moment.
                        await Task.Delay(FirstClaimPoll, _time, token).ConfigureAwait(false);
                        break;
                }
            }
        }
        catch (Exception e) when (!token.IsCancellationRequested)
        {
            throw new DeduplicationRetryException($"Marking the dead-letter write of {deadLetterKey.MessageId} failed: {e.Message}", e);
        }
    }

    /// <summary>
    /// Claims the record; true when claimed, false when it was processed before. Waits while another owner holds
    /// it, up to the claim wait timeout (then throws <see cref="DeduplicationClaimTimeoutException"/>, an attempt failure).
    /// </summary>
    public async ValueTask<bool> ClaimAsync(DeduplicationKey key, Guid owner, TopicPartition partition, long offset, CancellationToken token)
    {
        long started = 0;
        var pause = FirstClaimPoll;
        var waiting = false;
        while (true)
        {
            ClaimResult result;
            try
            {
                result = await _store.ClaimAsync(key, owner, _lease, token).ConfigureAwait(false);
            }
            catch (Exception e) when (!token.IsCancellationRequested)
            {
                throw new DeduplicationRetryException($"Claiming message {key.MessageId} failed: {e.Message}", e);
            }

            switch (result.Status)
            {
                case ClaimStatus.Claimed:
                    return true;
                case ClaimStatus.AlreadyProcessed:
                    Log.DuplicateSuppressed(_logger, _consumer, partition.Topic, partition.Partition.Value, offset, key.MessageId);
                    _metrics.DuplicateSuppressed(partition);
                    return false;
            }

            if (started == 0)
            {
                started = _time.GetTimestamp();
            }

            var waited = _time.GetElapsedTime(started);
            if (waited >= _claimWait)
            {
                throw new DeduplicationClaimTimeoutException(FormattableString.Invariant(
                    $"Message {key.MessageId} ({partition.Topic} [{partition.Partition.Value}] @{offset}) stayed claimed by another owner for {waited.TotalMilliseconds:F0} ms (Deduplication:ClaimWaitTimeout {_claimWait.TotalMilliseconds:F0} ms)."));
            }

            if (!waiting)
            {
                waiting = true;
                Log.ClaimedElsewhere(_logger, _consumer, partition.Topic, partition.Partition.Value, offset, key.MessageId);
            }

            var untilExpiry = result.LeaseExpiresAt is { } expires ? expires - _time.GetUtcNow() : pause;
            var delay = untilExpiry > TimeSpan.Zero && untilExpiry < pause ? untilExpiry : pause;
            await Task.Delay(delay, _time, token).ConfigureAwait(false);
            pause = pause * 2 < MaxClaimPoll ? pause * 2 : MaxClaimPoll;
        }
    }

    /// <summary>
    /// Records the completion of a handled record, trying again while the store fails: the handler's effects
    /// happened, so running it again would duplicate them. Continues after the record's work was abandoned (a
    /// completion still spares its next owner a duplicate) until the lease has expired. The claim is still renewed
    /// meanwhile; a renewal that finds it completed is no loss.
    /// </summary>
    public async ValueTask CompleteAsync(DeduplicationKey key, Guid owner, TopicPartition partition, long offset, CancellationToken token)
    {
        Completing(owner);
        try
        {
            try
            {
                await CompleteOnceAsync(key, owner, partition, offset).ConfigureAwait(false);
            }
            catch (Exception first)
            {
                await CompleteUntilDoneAsync(key, owner, partition, offset, first, token).ConfigureAwait(false);
            }
        }
        finally
        {
            Unhold(owner);
        }
    }

    private async ValueTask CompleteOnceAsync(DeduplicationKey key, Guid owner, TopicPartition partition, long offset)
    {
        if (!await _store.CompleteAsync(key, owner, CancellationToken.None).ConfigureAwait(false))
        {
            PossibleDuplicate(key, partition, offset);
        }
    }

    /// <summary>After a failed completion: tries again with growing pauses (with jitter) until the store answers, or, once the record's work was abandoned, until the lease is over.</summary>
    private async ValueTask CompleteUntilDoneAsync(DeduplicationKey key, Guid owner, TopicPartition partition, long offset, Exception failure, CancellationToken token)
    {
        var started = _time.GetTimestamp();
        var failing = false;
        var pending = failure;
        var retries = Backoffs.UntilItWorks(
            FirstCompletionRetry,
            MaxCompletionRetry,
            _time,
            _ => !token.IsCancellationRequested || _time.GetElapsedTime(started) <= _lease,
            (e, pause) => Failed(ref failing, partition, offset, pause, e));
        try
        {
            // Not cancelled with the record's work: a completion still spares its next owner a duplicate.
            await retries.ExecuteAsync(
                async _ =>
                {
                    if (pending is { } first)
                    {
                        pending = null;
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
                    }

                    await CompleteOnceAsync(key, owner, partition, offset).ConfigureAwait(false);
                },
                CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception) when (token.IsCancellationRequested)
        {
            // Abandoned and the lease is over: the claim has expired, and the record's next owner handles it.
        }
        finally
        {
            Recovered(ref failing);
        }
    }

    /// <summary>
    /// Reports a handled record whose completion found its claim held by another owner (its lease had expired): that
    /// owner may run the handler too. Logged as an error, counted, and shown by the health check.
    /// </summary>
    public void PossibleDuplicate(DeduplicationKey key, TopicPartition partition, long offset)
    {
        Interlocked.Increment(ref _possibleDuplicates);
        Log.ClaimLost(_logger, _consumer, partition.Topic, partition.Partition.Value, offset, key.MessageId);
        _metrics.PossibleDuplicate(partition);
    }

    /// <summary>
    /// Wraps a transactional store's transaction so that its completion counts as the record's completion: from then on
    /// a renewal that finds the claim gone is no loss (the transaction may have completed it).
    /// </summary>
    public IDeduplicationTransaction Completing(IDeduplicationTransaction transaction, Guid owner) => new CompletingTransaction(this, transaction, owner);

    /// <summary>Releases a claim after a failed attempt, once and briefly; a failure only means the lease must expire first.</summary>
    public async ValueTask<bool> ReleaseAsync(DeduplicationKey key, Guid owner, TopicPartition partition, long offset)
    {
        try
        {
            using var timeout = new CancellationTokenSource(ReleaseTimeout, _time);
            await _store.ReleaseAsync(key, owner, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e)
        {
            Log.ReleaseFailed(_logger, _consumer, partition.Topic, partition.Partition.Value, offset, e.Message);
            _metrics.DeduplicationStoreFailed(partition);
            return false;
        }
    }

    /// <summary>
    /// Releases a claim whose release failed before, trying again with growing pauses for at most the lease (after
    /// which the claim has expired anyway); gives up early when <paramref name="token"/> fires.
    /// </summary>
    public async ValueTask ReleaseUntilDoneAsync(DeduplicationKey key, Guid owner, TopicPartition partition, long offset, CancellationToken token)
    {
        var started = _time.GetTimestamp();
        var retries = Backoffs.UntilItWorks(
            FirstClaimPoll,
            MaxClaimPoll,
            _time,
            e => e is ReleaseFailedException && _time.GetElapsedTime(started) < _lease,
            static (_, _) => { });
        try
        {
            await retries.ExecuteAsync(
                async _ =>
                {
                    if (!await ReleaseAsync(key, owner, partition, offset).ConfigureAwait(false))
                    {
                        throw new ReleaseFailedException();
                    }
                },
                token).ConfigureAwait(false);
        }
        catch (ReleaseFailedException) when (!token.IsCancellationRequested)
        {
            // The lease is over: the claim has expired, so nothing is left to release.
        }
        catch (ReleaseFailedException)
        {
            // The record's work was abandoned meanwhile: no attempt follows.
            token.ThrowIfCancellationRequested();
        }
    }

    /// <summary>A release that failed (logged by <see cref="ReleaseAsync"/>), to be tried again.</summary>
    private sealed class ReleaseFailedException : Exception
    {
    }

    /// <summary>
    /// Keeps a claim alive while its handler runs: every third of the lease, each held claim's lease is extended
    /// (<see cref="IDeduplicationStore.RenewAsync"/>, which never re-creates a claim that was released or completed). A
    /// live member's claims so never expire under a slow handler (another member would otherwise run the same record's
    /// handler at the same time); a crashed member's stop being renewed and expire.
    /// </summary>
    public void Hold(DeduplicationKey key, Guid owner, TopicPartition partition, long offset)
    {
        _held[owner] = new HeldClaim(key, partition, offset);
        if (Interlocked.CompareExchange(ref _renewing, 1, 0) == 0)
        {
            _ = RenewLoopAsync();
        }
    }

    /// <summary>Stops renewing a claim (completed, released or abandoned).</summary>
    public void Unhold(Guid owner) => _held.TryRemove(owner, out _);

    /// <summary>Marks a held claim as being completed: a renewal that finds it gone from now on is no loss.</summary>
    private void Completing(Guid owner)
    {
        if (_held.TryGetValue(owner, out var held))
        {
            held.Completing = true;
        }
    }

    /// <summary>Reports a store failure that keeps a record waiting (counted once per record until <see cref="Recovered"/>).</summary>
    public void Failed(ref bool failing, TopicPartition partition, long offset, TimeSpan pause, Exception error)
    {
        if (!failing)
        {
            failing = true;
            Interlocked.Increment(ref _failing);
        }

        Log.DeduplicationStoreFailed(_logger, _consumer, partition.Topic, partition.Partition.Value, offset, (long)pause.TotalMilliseconds, error.Message);
        _metrics.DeduplicationStoreFailed(partition);
    }

    private async Task RenewLoopAsync()
    {
        while (true)
        {
            await Task.Delay(_lease / 3, _time).ConfigureAwait(false);
            if (_held.IsEmpty)
            {
                // Stop; a claim held meanwhile restarts the loop, unless this one takes over again.
                Volatile.Write(ref _renewing, 0);
                if (_held.IsEmpty || Interlocked.CompareExchange(ref _renewing, 1, 0) != 0)
                {
                    return;
                }
            }

            // Each claim is renewed on its own, and never twice at once (a store may still batch them: the PostgreSQL
            // store bounds how long a renewal waits for a row lock).
            foreach (var (owner, held) in _held)
            {
                if (Interlocked.CompareExchange(ref held.Renewing, 1, 0) == 0)
                {
                    _ = RenewAsync(owner, held);
                }
            }
        }
    }

    private async Task RenewAsync(Guid owner, HeldClaim held)
    {
        try
        {
            if (!await _store.RenewAsync(held.Key, owner, _lease, CancellationToken.None).ConfigureAwait(false)
                && _held.TryGetValue(owner, out var current) && ReferenceEquals(current, held) && !held.Completing)
            {
                // Not completing, not released, and yet not held: the lease expired and another owner took it over (or it
                // was purged). The completion, if the handler finishes, reports the possible duplicate.
                Log.ClaimNotRenewed(_logger, _consumer, held.Partition.Topic, held.Partition.Partition.Value, held.Offset, held.Key.MessageId);
                _held.TryRemove(new KeyValuePair<Guid, HeldClaim>(owner, held)); // not a newer hold of the same owner
            }
        }
        catch (Exception e)
        {
            // The claim may expire if the store stays down; the completion then finds out.
            Log.ClaimRenewalFailed(_logger, _consumer, held.Partition.Topic, held.Partition.Partition.Value, held.Offset, e.Message);
            _metrics.DeduplicationStoreFailed(held.Partition);
        }
        finally
        {
            Volatile.Write(ref held.Renewing, 0);
        }
    }

    /// <summary>Ends the waiting of a record reported by <see cref="Failed"/>.</summary>
    public void Recovered(ref bool failing)
    {
        if (failing)
        {
            failing = false;
            Interlocked.Decrement(ref _failing);
        }
    }

    /// <summary>A claim renewed while its record is handled.</summary>
    private sealed class HeldClaim(DeduplicationKey key, TopicPartition partition, long offset)
    {
        public DeduplicationKey Key { get; } = key;

        public TopicPartition Partition { get; } = partition;

        public long Offset { get; } = offset;

        /// <summary>1 while a renewal is in flight.</summary>
#pragma warning disable SA1401, CA1051 // A field, for Interlocked.
        public int Renewing;
#pragma warning restore SA1401, CA1051

        /// <summary>Gets or sets a value indicating whether the record's completion is being recorded.</summary>
        public volatile bool Completing;
    }

    /// <summary>A store transaction whose completion marks the record as completing (see <see cref="Completing(Guid)"/>).</summary>
    private sealed class CompletingTransaction(Deduplicator deduplicator, IDeduplicationTransaction inner, Guid owner) : IDeduplicationTransaction
    {
        public ValueTask<bool> CompleteAsync(CancellationToken cancellationToken = default)
        {
            deduplicator.Completing(owner);
            return inner.CompleteAsync(cancellationToken);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
