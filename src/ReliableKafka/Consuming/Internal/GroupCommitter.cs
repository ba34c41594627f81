using Confluent.Kafka;
using ReliableKafka.Diagnostics.Internal;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// Commits each partition's committable offset (the lowest unfinished record) with the records finished beyond it in
/// the metadata, through the consumer group (<see cref="IGroupOffsetStore"/>): on the interval without waiting for the
/// result, and before partitions are let go waiting for it within a budget. Only offsets that moved are committed.
/// Poll thread only (rebalance callbacks run on the thread that polls or closes).
/// </summary>
internal sealed class GroupCommitter(EngineContext context, AssignedPartitions partitions, IGroupOffsetStore store) : ICommitter
{
    // How long one commit may wait for its result before it counts as failed (and is tried again later).
    private static readonly TimeSpan CommitTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan FirstCommitBackoff = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxCommitBackoff = TimeSpan.FromMilliseconds(500);

    private readonly CommitMetadata _metadata = new(context);

    // Interval commits overtaken by a commit that waited for its result, still outstanding.
    private readonly List<InFlight> _abandoned = [];
    private InFlight? _interval;
    private bool _intervalOverdue;
    private long _lastInterval;

    public void Start() => _lastInterval = context.Time.GetTimestamp();

    public void OnPoll(IConsumer<byte[]?, byte[]?> consumer)
    {
        var time = context.Time;
        if (time.GetElapsedTime(_lastInterval) >= context.Options.CommitInterval)
        {
            CommitOnInterval(consumer);
            _lastInterval = time.GetTimestamp();
        }
        else
        {
            CollectIntervalCommit(abandon: false);
        }
    }

    public void CommitBeforeLettingGo(IConsumer<byte[]?, byte[]?> consumer, IEnumerable<PartitionState> states, string reason, TimeSpan retryBudget, TimeSpan limit, Action<TimeSpan>? serve)
    {
        var time = context.Time;
        var hardLimit = limit > retryBudget ? limit : retryBudget;
        var started = time.GetTimestamp();
        var retry = 0;
        while (true)
        {
            var left = context.Remaining(hardLimit, started);
            if (left <= TimeSpan.Zero)
            {
                if (!context.AtMostOnce && states.Any(s => s.Offsets.Committable is { } offset && s.LastCommitted?.Offset != offset))
                {
                    Log.CommitSkipped(context.Logger, context.Name, reason, (long)hardLimit.TotalMilliseconds);
                }

                return;
            }

            if (TryCommit(consumer, states, reason, left < CommitTimeout ? left : CommitTimeout) is not { } failure)
            {
                return;
            }

            // Outside a rebalance callback, a commit sent with the generation that a rebalance just replaced is
            // retried: once librdkafka has rejoined, the next attempt carries the new generation.
            var remaining = context.Remaining(retryBudget, started);
            var transient = IsTransient(failure.Error.Code) || (serve is not null && failure.Error.Code == ErrorCode.IllegalGeneration);
            if (!transient || remaining <= TimeSpan.Zero)
            {
                Log.CommitFailedFinal(context.Logger, context.Name, failure.Offsets, reason, failure.Error);
                return;
            }

            // Between tries the consumer keeps being served (a rebalance in progress must be answered), so the wait is
            // not a Polly delay; its length comes from the same jittered backoff.
            var backoff = Failures.Internal.Backoffs.Delay(FirstCommitBackoff, MaxCommitBackoff, retry++);
            var wait = backoff < remaining ? backoff : remaining;
            if (serve is not null)
            {
                serve(wait);
            }
            else
            {
                Thread.Sleep(wait);
            }

        }
    }

    public void CommitBeforeHandling(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<(PartitionState State, long Next)> offsets)
    {
        var started = context.Time.GetTimestamp();
        try
        {
            store.Commit(consumer, [.. offsets.Select(o => new OffsetCommit(o.State.TopicPartition, o.Next, null, null))], CommitTimeout);
        }
        catch (KafkaException e)
        {
            context.Metrics.Committed(context.Time.GetElapsedTime(started), e.Error.Code);
            throw;
        }

        context.Metrics.Committed(context.Time.GetElapsedTime(started), error: null);
        foreach (var (state, next) in offsets)
        {
            state.LastCommitted = (next, null);
        }
    }

    public void Abandon()
    {
        _interval?.Commit.Dispose();
        _interval = null;
        _abandoned.ForEach(c => c.Commit.Dispose());
        _abandoned.Clear();
    }

    private static List<TopicPartitionOffset> Offsets(IEnumerable<(PartitionState State, OffsetCommit Commit)> parts) =>
        [.. parts.Select(p => new TopicPartitionOffset(p.Commit.Partition, p.Commit.Offset))];

    private static bool IsTransient(ErrorCode code) => code is
        ErrorCode.RebalanceInProgress or
        ErrorCode.NotCoordinatorForGroup or
        ErrorCode.GroupCoordinatorNotAvailable or
        ErrorCode.GroupLoadInProgress or
        ErrorCode.RequestTimedOut or
        ErrorCode.NetworkException or
        ErrorCode.Local_TimedOut or
        ErrorCode.Local_Transport or
        ErrorCode.Local_WaitCoord or
        ErrorCode.Local_AllBrokersDown;

    /// <summary>
    /// Commits on the interval without waiting for the result (the poll thread goes on serving the group: a slow or
    /// unreachable coordinator must not hold up rebalances), one commit in flight at a time. Its result is collected by
    /// <see cref="CollectIntervalCommit"/>; what fails is tried again at the next interval.
    /// </summary>
    private void CommitOnInterval(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (CollectIntervalCommit(abandon: false))
        {
            return; // the previous one is still in flight
        }

        var pending = PendingCommits(partitions.All);
        if (pending.Count == 0)
        {
            return;
        }

        try
        {
            _interval = new InFlight(store.BeginCommit(consumer, [.. pending.Select(p => p.Commit)]), pending, context.Time.GetTimestamp());
        }
        catch (KafkaException e)
        {
            Log.CommitFailed(context.Logger, context.Name, Offsets(pending), "interval", e.Error);
            context.Metrics.Committed(TimeSpan.Zero, e.Error.Code);
        }
    }

    /// <summary>
    /// Takes the result of the interval commit in flight if it came; returns true while it is still in flight. No new
    /// interval commit is sent until then (librdkafka starts no newly assigned partition while a commit is outstanding,
    /// so commits piling up would stall rebalances); one overdue after <see cref="CommitTimeout"/> is reported once.
    /// With <paramref name="abandon"/> (a commit that waits for its result follows), it is no longer waited for: it is
    /// kept aside, and if it still succeeds afterwards, its partitions are committed again (it may have landed after
    /// the newer commit and moved their committed offsets back).
    /// </summary>
    private bool CollectIntervalCommit(bool abandon)
    {
        CollectAbandonedCommits();
        if (_interval is not { } inFlight)
        {
            return false;
        }

        try
        {
            if (inFlight.Commit.TryComplete())
            {
                inFlight.Parts.ForEach(p => p.State.LastCommitted = (p.Commit.Offset, p.Commit.Metadata));
                Log.Committed(context.Logger, context.Name, Offsets(inFlight.Parts), "interval");
                context.Metrics.Committed(context.Time.GetElapsedTime(inFlight.Sent), error: null);
            }
            else if (abandon)
            {
                _abandoned.Add(inFlight);
                _interval = null;
                return false;
            }
            else
            {
                if (context.Time.GetElapsedTime(inFlight.Sent) >= CommitTimeout && !_intervalOverdue)
                {
                    _intervalOverdue = true;
                    Log.CommitFailed(context.Logger, context.Name, Offsets(inFlight.Parts), "interval", new Error(ErrorCode.Local_TimedOut, $"no result within {CommitTimeout.TotalMilliseconds:0} ms; no other interval commit is sent until it comes"));
                }

                return true;
            }
        }
        catch (TopicPartitionOffsetException e)
        {
            var failure = ApplyPartialResult(inFlight.Parts, e, out _);
            if (failure is not null)
            {
                Log.CommitFailed(context.Logger, context.Name, failure.Value.Offsets, "interval", failure.Value.Error);
            }

            context.Metrics.Committed(context.Time.GetElapsedTime(inFlight.Sent), failure?.Error.Code);
        }
        catch (KafkaException e)
        {
            Log.CommitFailed(context.Logger, context.Name, Offsets(inFlight.Parts), "interval", e.Error);
            context.Metrics.Committed(context.Time.GetElapsedTime(inFlight.Sent), e.Error.Code);
        }

        inFlight.Commit.Dispose();
        _interval = null;
        _intervalOverdue = false;
        return false;
    }

    /// <summary>
    /// Collects the results of interval commits that a waited-for commit overtook: one that succeeded may have moved its
    /// partitions' committed offsets back, so they count as uncommitted again (the next commit sends them).
    /// </summary>
    private void CollectAbandonedCommits()
    {
        for (var i = _abandoned.Count - 1; i >= 0; i--)
        {
            var (commit, parts, _) = _abandoned[i];
            bool succeeded;
            try
            {
                if (!commit.TryComplete())
                {
                    continue;
                }

                succeeded = true;
            }
            catch (KafkaException)
            {
                succeeded = false;
            }

            if (succeeded)
            {
                // Its partitions may have been committed further meanwhile, by this assignment or a later one of the same
                // partition: they count as uncommitted again.
                foreach (var (state, _) in parts)
                {
                    state.LastCommitted = null;
                    if (partitions.Find(state.TopicPartition) is { } current)
                    {
                        current.LastCommitted = null;
                    }
                }
            }

            commit.Dispose();
            _abandoned.RemoveAt(i);
        }
    }

    /// <summary>
    /// One commit, waiting for its result, of each partition's committable offset that moved since its last commit.
    /// Returns null when everything was committed (or nothing was new), else the error and the offsets that failed.
    /// A partition whose metadata the brokers refuse as too large is committed again at once with less metadata.
    /// </summary>
    private (Error Error, List<TopicPartitionOffset> Offsets)? TryCommit(IConsumer<byte[]?, byte[]?> consumer, IEnumerable<PartitionState> states, string reason, TimeSpan timeout)
    {
        var started = context.Time.GetTimestamp();
        var result = TryCommitOnce(consumer, states, reason, timeout, out var sent);
        if (sent)
        {
            context.Metrics.Committed(context.Time.GetElapsedTime(started), result?.Error.Code);
        }

        return result;
    }

    private (Error Error, List<TopicPartitionOffset> Offsets)? TryCommitOnce(IConsumer<byte[]?, byte[]?> consumer, IEnumerable<PartitionState> states, string reason, TimeSpan timeout, out bool sent)
    {
        sent = false;
        // A commit that waits for its result is sent after the interval commit in flight, so it wins: that one's
        // result no longer matters.
        CollectIntervalCommit(abandon: true);
        var candidates = states.ToList();

        // An overtaken commit still outstanding could land after this one: commit its partitions whatever they last
        // committed, so that the last word is this commit's.
        foreach (var state in candidates.Where(s => _abandoned.Any(c => c.Parts.Any(p => p.State.TopicPartition == s.TopicPartition))))
        {
            state.LastCommitted = null;
        }

        while (true)
        {
            var pending = PendingCommits(candidates);
            if (pending.Count == 0)
            {
                return null;
            }

            sent = true;
            try
            {
                var commit = store.BeginCommit(consumer, [.. pending.Select(p => p.Commit)]);
                bool completed;
                try
                {
                    completed = commit.Wait(timeout);
                }
                catch
                {
                    commit.Dispose();
                    throw;
                }

                if (!completed)
                {
                    // Still outstanding in librdkafka: it may land after a later commit, so it is watched like an overtaken one.
                    _abandoned.Add(new InFlight(commit, pending, context.Time.GetTimestamp()));
                    return (new Error(ErrorCode.Local_TimedOut, $"The offset commit did not complete within {timeout.TotalMilliseconds:0} ms."), Offsets(pending));
                }

                commit.Dispose();
                pending.ForEach(p => p.State.LastCommitted = (p.Commit.Offset, p.Commit.Metadata));
                Log.Committed(context.Logger, context.Name, Offsets(pending), reason);
                return null;
            }
            catch (TopicPartitionOffsetException e)
            {
                var failure = ApplyPartialResult(pending, e, out var tooLarge);
                if (failure is null && tooLarge.Count > 0)
                {
                    candidates = tooLarge;
                    continue;
                }

                return failure;
            }
            catch (KafkaException e)
            {
                return (e.Error, Offsets(pending));
            }
        }
    }

    /// <summary>Each partition's committable offset (with the finished records beyond it) that moved since its last commit.</summary>
    private List<(PartitionState State, OffsetCommit Commit)> PendingCommits(IEnumerable<PartitionState> states)
    {
        var pending = new List<(PartitionState State, OffsetCommit Commit)>();
        foreach (var state in states)
        {
            var (committable, finished) = state.Offsets.Snapshot();
            if (committable is not { } offset)
            {
                continue;
            }

            var (commit, metadata) = _metadata.Encode(state, offset, finished);
            if (state.LastCommitted != (commit, metadata))
            {
                pending.Add((state, new OffsetCommit(state.TopicPartition, commit, null, metadata)));
            }
        }

        return pending;
    }

    /// <summary>
    /// Records what a commit that failed for some partitions did commit. librdkafka reports the request's error (the
    /// last partition error) on every partition that had none, so a partition reported failed may have been committed:
    /// it is committed again later, which is safe. When the brokers refused metadata as too large
    /// (offset.metadata.max.bytes below ours), the metadata limit is lowered below the longest metadata sent, and every
    /// partition reported with that error is returned in <paramref name="tooLarge"/>, to be committed again at once.
    /// Returns the first other error and the offsets that failed with it, or null.
    /// </summary>
    private (Error Error, List<TopicPartitionOffset> Offsets)? ApplyPartialResult(
        List<(PartitionState State, OffsetCommit Commit)> parts, TopicPartitionOffsetException e, out List<PartitionState> tooLarge)
    {
        var failed = new List<TopicPartitionOffset>();
        tooLarge = [];
        var longest = parts.MaxBy(p => p.Commit.Metadata?.Length ?? 0);
        var metadataRefused = e.Results.Any(r => r.Error.Code == ErrorCode.OffsetMetadataTooLarge) && longest.Commit.Metadata is { Length: > 0 };
        if (metadataRefused)
        {
            _metadata.Refused(longest.State, longest.Commit.Metadata!.Length);
        }

        foreach (var (state, commit) in parts)
        {
            var result = e.Results.FirstOrDefault(r => r.TopicPartition == state.TopicPartition);
            if (result is { Error.IsError: false })
            {
                state.LastCommitted = (commit.Offset, commit.Metadata);
            }
            else if (metadataRefused && result?.Error.Code == ErrorCode.OffsetMetadataTooLarge)
            {
                tooLarge.Add(state);
            }
            else
            {
                failed.Add(new TopicPartitionOffset(state.TopicPartition, commit.Offset));
            }
        }

        return failed.Count == 0 ? null : (e.Results.FirstOrDefault(r => r.Error.IsError)?.Error ?? e.Error, failed);
    }

    /// <summary>A commit sent without waiting, with the partitions it was taken from.</summary>
    private sealed record InFlight(IPendingCommit Commit, List<(PartitionState State, OffsetCommit Commit)> Parts, long Sent);
}
