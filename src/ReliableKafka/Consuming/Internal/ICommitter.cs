using Confluent.Kafka;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// Commits what finished. The seam for other ways of committing (a transactional committer sends the offsets to the
/// producer's transaction instead). Poll thread only (rebalance callbacks run on the thread that polls or closes).
/// </summary>
internal interface ICommitter
{
    /// <summary>Called at every poll: commits on the interval, and collects the results of earlier commits.</summary>
    void OnPoll(IConsumer<byte[]?, byte[]?> consumer);

    /// <summary>
    /// Commits before partitions are let go (revocation, shutdown), retrying transient group errors while
    /// <paramref name="retryBudget"/> lasts; no attempt waits beyond <paramref name="limit"/>. Inside a rebalance
    /// callback (<paramref name="serve"/> null) it only sleeps between attempts; otherwise it serves the consumer
    /// (<paramref name="serve"/>) so that librdkafka can finish a concurrent rebalance and commit with the group's
    /// current generation.
    /// </summary>
    void CommitBeforeLettingGo(IConsumer<byte[]?, byte[]?> consumer, IEnumerable<PartitionState> states, string reason, TimeSpan retryBudget, TimeSpan limit, Action<TimeSpan>? serve);

    /// <summary>
    /// AtMostOnce: commits, for each partition, the offset past records taken before they are handled; throws
    /// <see cref="KafkaException"/> when it failed.
    /// </summary>
    void CommitBeforeHandling(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<(PartitionState State, long Next)> offsets);

    /// <summary>Called once the consumer subscribed: the commit interval starts.</summary>
    void Start();

    /// <summary>Stops waiting for outstanding commits (before the consumer is disposed: they hold a reference on it).</summary>
    void Abandon();
}
