using Confluent.Kafka;
using ReliableKafka.Diagnostics.Internal;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// The rebalance callbacks. Assigned: a new <see cref="PartitionState"/> per partition (fencing: results of an earlier
/// assignment land in a retired state and are never committed), the previous owner's finished records skipped.
/// Revoked: commit what finished, let running handlers finish within <see cref="ConsumerOptions.RevocationTimeout"/>,
/// commit again, let go. Lost: let go, committing nothing. Runs on the thread that polls (or closes the consumer).
/// </summary>
internal sealed class Rebalancer(
    EngineContext context,
    AssignedPartitions partitions,
    PauseReconciler pauses,
    ICommitter committer,
    IGroupOffsetStore offsetStore,
    EngineLifecycle lifecycle,
    GracefulStop stop,
    Dispatcher dispatcher,
    Action<Lane> runLane)
{
    // Inside a rebalance callback, commit retries stop after this long (see OnRevoked).
    private static readonly TimeSpan MaxCallbackCommitRetry = TimeSpan.FromSeconds(1);

    // How long reading the previous owner's commit metadata may take when partitions are assigned.
    private static readonly TimeSpan CommittedReadTimeout = TimeSpan.FromSeconds(10);

    // How often the metadata of partitions held for it (HoldReasons.Unread) is read again.
    private static readonly TimeSpan UnreadRetryInterval = TimeSpan.FromSeconds(1);

    // How long one of those reads may take.
    private static readonly TimeSpan UnreadRetryTimeout = TimeSpan.FromSeconds(2);

    // Partitions whose committed metadata could not be read when they were assigned, while keys park (poll thread).
    private readonly List<PartitionState> _unread = [];
    private long _lastUnreadTry;
    private long _unreadSinceTicks;

    /// <summary>Gets since when partitions wait for their committed metadata to be read (HoldReasons.Unread), or null; any thread.</summary>
    public DateTimeOffset? UnreadSince => Volatile.Read(ref _unreadSinceTicks) is var ticks and not 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;



    public void OnAssigned(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> assigned)
    {
        Log.PartitionsAssigned(context.Logger, context.Name, assigned);
        context.Metrics.Rebalanced("assigned");
        foreach (var partition in assigned)
        {
            // librdkafka keeps an application pause on a partition across unassign and assign (only its own internal
            // pause is reset), so a partition this member paused before it was revoked or lost comes back paused. Its
            // pause state is unknown here (PausedInClient null): the next reconciliation pauses or resumes it explicitly.
            var state = new PartitionState(partition, context.Options.OrderingMode, runLane) { LastFetched = context.Time.GetTimestamp() };
            state.Parked.MetadataKeys = context.Options.RetryTopic.MaxParkedKeysPerPartition;
            if (lifecycle.Stopping)
            {
                // Assigned during a graceful stop: nothing of it is handled.
                state.Stop();
            }

            partitions.Add(state);
        }

        partitions.Publish();
        pauses.Request();
        if (!context.AtMostOnce && assigned.Count > 0 && !lifecycle.Stopping)
        {
            ResumeWhereThePreviousOwnerLeftOff(consumer, assigned);
        }

        if (context.Parking is { } parking)
        {
            // Before any record is dispatched: keys whose release was read already are released at once.
            foreach (var partition in assigned)
            {
                if (partitions.Find(partition) is { } state && (state.Hold & HoldReasons.Unread) == 0)
                {
                    parking.Track(partition, state.Parked);
                }
            }
        }
    }

    public void OnRevoked(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartitionOffset> revoked)
    {
        dispatcher.StartPendingLanes();
        Log.PartitionsRevoked(context.Logger, context.Name, revoked);
        context.Metrics.Rebalanced("revoked");
        var states = revoked
            .Select(p => partitions.Find(p.TopicPartition))
            .OfType<PartitionState>()
            .ToList();
        if (!lifecycle.CrashRequested && !lifecycle.Failed && states.Count > 0)
        {
            // Inside the rebalance callback the group may already be rejoining without us: commit what finished
            // at once (the sooner, the likelier the coordinator accepts it), then let running handlers finish,
            // then commit again. Retries stay short: a coordinator that refuses commits during a rebalance waits
            // for this member to rejoin, which it can only do after this callback returns.
            // While stopping, the handlers were waited for already and everything is bounded by the stop's budget.
            var started = context.Time.GetTimestamp();
            committer.CommitBeforeLettingGo(consumer, states, "revocation", CommitRetryBudget(started), Remaining(started), serve: null);
            partitions.Drain(states, lifecycle.Stopping ? TimeSpan.Zero : Remaining(started), "revocation");
            committer.CommitBeforeLettingGo(consumer, states, "revocation", CommitRetryBudget(started), Remaining(started), serve: null);
        }

        foreach (var state in states)
        {
            state.Cancellation.Cancel();
            partitions.Remove(state.TopicPartition);
            context.Parking?.Untrack(state.TopicPartition, state.Parked);
        }

        partitions.Publish();
    }

    public void OnLost(List<TopicPartitionOffset> lost)
    {
        dispatcher.StartPendingLanes();
        Log.PartitionsLost(context.Logger, context.Name, lost);
        context.Metrics.Rebalanced("lost");
        foreach (var partition in lost)
        {
            if (partitions.Remove(partition.TopicPartition) is { } state)
            {
                state.Stop();
                state.Cancellation.Cancel();
                context.Parking?.Untrack(state.TopicPartition, state.Parked);
            }
        }

        partitions.Publish();
    }

    /// <summary>
    /// Reads the committed metadata of newly assigned partitions, so that records a previous owner finished
    /// beyond the committed offset are not handled again. Unreadable, foreign or stale metadata is ignored with
    /// a warning: those records are then handled again (at least once).
    /// </summary>
    private void ResumeWhereThePreviousOwnerLeftOff(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> assigned)
    {
        IReadOnlyList<CommittedOffset> committed;
        try
        {
            committed = offsetStore.ReadCommitted(consumer, assigned, CommittedReadTimeout);
        }
        catch (KafkaException e) when (context.Parking is not null)
        {
            Log.CommittedUnread(context.Logger, context.Name, assigned, e.Error);
            foreach (var state in assigned.Select(partitions.Find).OfType<PartitionState>())
            {
                HoldUntilRead(state);
            }

            return;
        }
        catch (KafkaException e)
        {
            Log.CommittedReadFailed(context.Logger, context.Name, assigned, e.Error);
            return;
        }

        foreach (var entry in committed)
        {
            if (partitions.Find(entry.Partition) is not { } state)
            {
                continue;
            }

            if (entry.Error == ErrorCode.NoError)
            {
                Resume(state, entry);
            }
            else if (context.Parking is not null)
            {
                Log.CommittedUnread(context.Logger, context.Name, [entry.Partition], new Error(entry.Error));
                HoldUntilRead(state);
            }
            else
            {
                Log.CommittedReadFailed(context.Logger, context.Name, [entry.Partition], new Error(entry.Error));
            }
        }
    }

    /// <summary>
    /// Holds a partition whose committed metadata could not be read (keys park): the previous owner's parked keys are in
    /// it, and a record handled before it is read could overtake the records of its key in the retry topics.
    /// </summary>
    private void HoldUntilRead(PartitionState state)
    {
        state.Hold |= HoldReasons.Unread;
        _unread.Add(state);
        _lastUnreadTry = context.Time.GetTimestamp();
        if (Volatile.Read(ref _unreadSinceTicks) == 0)
        {
            Volatile.Write(ref _unreadSinceTicks, context.Time.GetUtcNow().UtcTicks);
        }

        pauses.Request();
    }

    /// <summary>
    /// Reads again, about every second, the committed metadata of partitions whose read failed at assignment (only when
    /// keys park); each then takes records. Poll thread.
    /// </summary>
    public void RetryUnread(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (_unread.Count == 0 || context.Time.GetElapsedTime(_lastUnreadTry) < UnreadRetryInterval)
        {
            return;
        }

        _unread.RemoveAll(state => !partitions.IsCurrent(state));
        _lastUnreadTry = context.Time.GetTimestamp();
        if (_unread.Count == 0)
        {
            Volatile.Write(ref _unreadSinceTicks, 0);
            return;
        }

        // Shorter than at assignment: the poll thread keeps serving the group between tries.
        IReadOnlyList<CommittedOffset> committed;
        try
        {
            committed = offsetStore.ReadCommitted(consumer, [.. _unread.Select(s => s.TopicPartition)], UnreadRetryTimeout);
        }
        catch (KafkaException e)
        {
            Log.CommittedUnread(context.Logger, context.Name, [.. _unread.Select(s => s.TopicPartition)], e.Error);
            return;
        }

        foreach (var entry in committed)
        {
            if (entry.Error != ErrorCode.NoError)
            {
                Log.CommittedUnread(context.Logger, context.Name, [entry.Partition], new Error(entry.Error));
                continue;
            }

            if (_unread.Find(s => s.TopicPartition == entry.Partition) is { } state)
            {
                Resume(state, entry);
                context.Parking?.Track(state.TopicPartition, state.Parked);
                state.Hold &= ~HoldReasons.Unread;
                _unread.Remove(state);
            }
        }

        if (_unread.Count == 0)
        {
            Volatile.Write(ref _unreadSinceTicks, 0);
        }

        pauses.Request();
    }

    /// <summary>Takes over what the previous owner committed for a partition: where it starts, its parked keys, the records it finished beyond.</summary>
    private void Resume(PartitionState state, CommittedOffset entry)
    {
        state.StartOffset = entry.Offset >= 0 ? entry.Offset : null;
        state.StartKnown = true;
        if (entry.Offset >= 0)
        {
            state.CommittedOffset = entry.Offset; // what the lag is measured from until this member commits
        }

        if (entry.Metadata is null)
        {
            return;
        }

        var (finishedPart, parkedPart) = CommitMetadata.Split(entry.Metadata);
        if (parkedPart is not null && context.Parking is not null)
        {
            // The previous owner's parked keys park here too (whatever the committed offset: they are about records
            // that went to retry topics, however far the offset moved since), until their releases are read.
            if (Failures.Internal.Retry.ParkedKeys.TryDecode(parkedPart, out var keys))
            {
                if (context.Options.OrderingMode == OrderingMode.Partition)
                {
                    // Left by an owner in Key ordering: under Partition ordering only the whole partition (hash 0) parks.
                    keys = [.. keys.Where(k => k.Hash == 0)];
                }

                state.Parked.Restore(keys, entry.Offset);
                Log.ParkedKeysRestored(context.Logger, context.Name, entry.Partition, keys.Count);
            }
            else
            {
                Log.MetadataIgnored(context.Logger, context.Name, entry.Partition, "its parked keys are unreadable (their later records are handled at once)");
            }
        }

        if (finishedPart is null)
        {
            return;
        }

        if (!OffsetGapCodec.TryDecode(finishedPart, out var watermark, out var finished, out var error))
        {
            Log.MetadataIgnored(context.Logger, context.Name, entry.Partition, error ?? "unreadable");
        }
        else if (watermark != entry.Offset)
        {
            Log.MetadataIgnored(context.Logger, context.Name, entry.Partition, $"it describes offset {watermark}, the committed offset is {entry.Offset}");
        }
        else
        {
            state.SkipFinished(finished);
            Log.ResumingPastFinished(context.Logger, context.Name, entry.Partition, entry.Offset, finished.Length);
        }
    }

    private TimeSpan CommitRetryBudget(long started)
    {
        var remaining = Remaining(started);
        return remaining < MaxCallbackCommitRetry ? remaining : MaxCallbackCommitRetry;
    }

    /// <summary>What is left of a revocation's budget (<see cref="ConsumerOptions.RevocationTimeout"/>, and the stop's while stopping).</summary>
    private TimeSpan Remaining(long started)
    {
        var remaining = context.Remaining(context.Options.RevocationTimeout, started);
        return lifecycle.Stopping && stop.RemainingForCommits < remaining ? stop.RemainingForCommits : remaining;
    }
}
