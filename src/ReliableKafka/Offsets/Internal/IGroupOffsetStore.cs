using Confluent.Kafka;

namespace ReliableKafka.Offsets.Internal;

/// <summary>An offset to commit for the consumer's group, with optional metadata.</summary>
internal readonly record struct OffsetCommit(TopicPartition Partition, long Offset, int? LeaderEpoch, string? Metadata);

/// <summary>An offset the group has committed, with its metadata (null when none).</summary>
internal readonly record struct CommittedOffset(TopicPartition Partition, long Offset, string? Metadata)
{
    /// <summary>Gets why this partition's offset could not be read (then Offset and Metadata say nothing), or NoError.</summary>
    public ErrorCode Error { get; init; } = ErrorCode.NoError;
}

/// <summary>
/// Commits and reads a consumer group's offsets together with their metadata (Confluent.Kafka's API carries
/// offsets only). Called on the poll thread with the consumer that owns the partitions.
/// </summary>
internal interface IGroupOffsetStore
{
    /// <summary>
    /// Commits synchronously, waiting at most <paramref name="timeout"/> for the result. Throws <see cref="KafkaException"/>
    /// when the request failed or timed out (<see cref="ErrorCode.Local_TimedOut"/>) and
    /// <see cref="TopicPartitionOffsetException"/> when some partitions failed, as Confluent's Commit does.
    /// </summary>
    void Commit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets, TimeSpan timeout);

    /// <summary>
    /// Sends a commit without waiting for its result, which <see cref="IPendingCommit.TryComplete"/> then collects
    /// without blocking. The poll thread so never waits for a coordinator that is slow or unreachable: it keeps serving
    /// the group (rebalances) meanwhile. Dispose the pending commit before the consumer.
    /// </summary>
    IPendingCommit BeginCommit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets);

    /// <summary>Reads the group's committed offsets and metadata; throws <see cref="KafkaException"/> on failure.</summary>
    IReadOnlyList<CommittedOffset> ReadCommitted(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<TopicPartition> partitions, TimeSpan timeout);
}

/// <summary>A commit sent by <see cref="IGroupOffsetStore.BeginCommit"/> whose result has not been collected yet.</summary>
internal interface IPendingCommit : IDisposable
{
    /// <summary>Gets the offsets the commit carries.</summary>
    IReadOnlyList<OffsetCommit> Offsets { get; }

    /// <summary>
    /// Collects the result if it arrived, without waiting: false while it has not; true when the commit succeeded; throws
    /// as <see cref="IGroupOffsetStore.Commit"/> does when it failed.
    /// </summary>
    bool TryComplete();

    /// <summary>Waits up to <paramref name="timeout"/> for the result; otherwise as <see cref="TryComplete"/>.</summary>
    bool Wait(TimeSpan timeout);
}
