using Confluent.Kafka;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// Hands fetched records to their lanes: each record that <see cref="Admission"/> takes is registered with its
/// partition's offset tracker and queued in the lane of its key (or partition); lanes are started once per dispatch
/// batch. Under AtMostOnce, a batch's offsets are committed before any of its records is handed out. Poll thread (and
/// <see cref="StartPendingLanes"/> also the thread that closes the consumer, while the poll thread waits for it).
/// </summary>
internal sealed class Dispatcher(EngineContext context, AssignedPartitions partitions, Admission admission, PauseReconciler pauses, ICommitter committer)
{
    // Records taken from librdkafka's already-fetched queue in one go before the lanes they went to are started.
    private const int DispatchBatchLimit = 256;
    private const int AtMostOnceBatchLimit = 500;

    private readonly List<Lane> _lanesToStart = [];

    /// <summary>Dispatches a fetched record and what librdkafka has fetched already behind it (no waiting).</summary>
    public void Dispatch(IConsumer<byte[]?, byte[]?> consumer, ConsumeResult<byte[]?, byte[]?> first)
    {
        try
        {
            if (context.AtMostOnce)
            {
                DispatchAtMostOnce(consumer, first);
                return;
            }

            // Take what librdkafka has fetched already, so that a lane's worker starts with several records instead of
            // being woken for each one.
            DispatchOne(first);
            for (var taken = 1; taken < DispatchBatchLimit && admission.HasRoom; taken++)
            {
                if (consumer.Consume(TimeSpan.Zero) is not { } next)
                {
                    break;
                }

                if (!next.IsPartitionEOF)
                {
                    DispatchOne(next);
                }
            }
        }
        finally
        {
            StartPendingLanes();
        }
    }

    /// <summary>
    /// Starts the lanes that records were queued to. Called after each dispatch batch and before anything that
    /// waits for lanes (rebalance callbacks, shutdown), which must never wait on a lane nobody started.
    /// </summary>
    public void StartPendingLanes()
    {
        foreach (var lane in _lanesToStart)
        {
            ThreadPool.UnsafeQueueUserWorkItem(lane, preferLocal: false);
        }

        _lanesToStart.Clear();
    }

    private bool DispatchOne(ConsumeResult<byte[]?, byte[]?> record) =>
        admission.TryAdmit(record) is { } state && Enqueue(state, record);

    /// <summary>Registers an admitted record and queues it in its lane (started after the dispatch batch).</summary>
    private bool Enqueue(PartitionState state, ConsumeResult<byte[]?, byte[]?> record)
    {
        switch (state.Enqueue(record, out var lane))
        {
            case PartitionState.EnqueueResult.Rejected:
                admission.Release(1);
                return false;
            case PartitionState.EnqueueResult.Skipped:
                admission.Release(1);
                return true;
            case PartitionState.EnqueueResult.StartLane:
                _lanesToStart.Add(lane!);
                break;
        }

        context.Metrics.Consumed(state.TopicPartition);
        if (context.AtMostOnce)
        {
            // Committed before dispatch: the tracker only mirrors that.
            state.Offsets.Complete(record.Offset.Value);
        }

        return true;
    }

    /// <summary>AtMostOnce: takes what is already fetched (up to a limit), commits past it, and only then dispatches it.</summary>
    private void DispatchAtMostOnce(IConsumer<byte[]?, byte[]?> consumer, ConsumeResult<byte[]?, byte[]?> first)
    {
        var batch = new List<ConsumeResult<byte[]?, byte[]?>> { first };
        while (batch.Count < AtMostOnceBatchLimit && consumer.Consume(TimeSpan.Zero) is { } next)
        {
            if (!next.IsPartitionEOF)
            {
                batch.Add(next);
            }
        }

        // Only records the engine takes are committed: a refused one is fetched again and committed then.
        var admitted = new List<(PartitionState State, ConsumeResult<byte[]?, byte[]?> Record)>(batch.Count);
        foreach (var record in batch)
        {
            if (partitions.Find(record.TopicPartition) is { Stopped: true })
            {
                continue; // being let go: not this member's to commit
            }

            if (admission.TryAdmit(record) is { } state)
            {
                admitted.Add((state, record));
            }
        }

        var ranges = admitted
            .GroupBy(a => a.State)
            .Select(g => (State: g.Key, First: g.MinBy(a => a.Record.Offset.Value).Record, Next: Math.Max(g.Max(a => a.Record.Offset.Value) + 1, g.Key.LastCommitted?.Offset ?? 0)))
            .ToList();
        if (ranges.Count == 0)
        {
            return;
        }

        try
        {
            committer.CommitBeforeHandling(consumer, [.. ranges.Select(r => (r.State, r.Next))]);
        }
        catch (KafkaException e)
        {
            // Nothing was taken: each partition fetches again from its first admitted record.
            Log.AtMostOnceCommitFailed(context.Logger, context.Name, e.Error.Reason);
            admission.Release(admitted.Count);
            foreach (var range in ranges)
            {
                range.State.Refuse(range.First);
            }

            pauses.Request();
            return;
        }

        foreach (var (state, record) in admitted)
        {
            Enqueue(state, record);
        }
    }
}
