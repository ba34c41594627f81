using Confluent.Kafka;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// The partitions this member owns now, each with the <see cref="PartitionState"/> of its current assignment. The
/// dictionary belongs to the poll thread (and to a rebalance callback, which runs on the thread that polls or closes);
/// other threads read the snapshot <see cref="Published"/>.
/// </summary>
internal sealed class AssignedPartitions(EngineContext context)
{
    // Poll thread only.
    private readonly Dictionary<TopicPartition, PartitionState> _partitions = [];

    // Written on the poll thread, read by any (health checks, tests).
    private PartitionState[] _published = [];

    /// <summary>Gets the number of assigned partitions (poll thread).</summary>
    public int Count => _partitions.Count;

    /// <summary>Gets the assigned partitions' states (poll thread).</summary>
    public IEnumerable<PartitionState> All => _partitions.Values;

    /// <summary>Gets the snapshot last published, for any thread.</summary>
    public IReadOnlyList<PartitionState> Published => Volatile.Read(ref _published);

    /// <summary>The state of an assigned partition, or null (poll thread).</summary>
    public PartitionState? Find(TopicPartition partition) => _partitions.GetValueOrDefault(partition);

    /// <summary>Whether <paramref name="state"/> is its partition's current assignment (not a retired one).</summary>
    public bool IsCurrent(PartitionState state) => _partitions.TryGetValue(state.TopicPartition, out var current) && ReferenceEquals(current, state);

    /// <summary>Adds or replaces a partition's state (poll thread); publish afterwards.</summary>
    public void Add(PartitionState state) => _partitions[state.TopicPartition] = state;

    /// <summary>Removes a partition (poll thread); publish afterwards.</summary>
    public PartitionState? Remove(TopicPartition partition) => _partitions.Remove(partition, out var state) ? state : null;

    /// <summary>Publishes the assigned partitions' states for readers off the poll thread.</summary>
    public void Publish() => Volatile.Write(ref _published, [.. _partitions.Values]);

    /// <summary>Stops every partition and cancels its running handlers (their records stay uncommitted), and forgets them.</summary>
    public void AbandonAll()
    {
        foreach (var state in _partitions.Values)
        {
            state.Stop();
            state.Cancellation.Cancel();
        }

        _partitions.Clear();
        Publish();
    }

    /// <summary>
    /// Stops the lanes of <paramref name="states"/> and waits for their running handlers up to
    /// <paramref name="timeout"/>, then cancels the ones still running (their records stay uncommitted).
    /// </summary>
    public void Drain(List<PartitionState> states, TimeSpan timeout, string reason)
    {
        foreach (var state in states)
        {
            state.Stop(finishQueued: context.AtMostOnce);
        }

        var started = context.Time.GetTimestamp();
        var stuck = new List<PartitionState>();
        foreach (var state in states)
        {
            if (!state.WaitIdle(context.Remaining(timeout, started)))
            {
                stuck.Add(state);
            }
        }

        if (stuck.Count > 0)
        {
            Log.HandlersAbandoned(context.Logger, context.Name, stuck.Select(s => s.TopicPartition), timeout, reason);
            foreach (var state in stuck)
            {
                state.Cancellation.Cancel();
            }
        }
    }
}
