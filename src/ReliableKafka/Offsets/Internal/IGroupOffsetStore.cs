using Confluent.Kafka;

namespace ReliableKafka.Offsets.Internal;

/// <summary>An offset to commit for the consumer's group, with optional metadata.</summary>
internal readonly record struct OffsetCommit(TopicPartition Partition, long Offset, int? LeaderEpoch, string? Metadata);

/// <summary>An offset the group has committed, with its metadata (null when none).</summary>
internal readonly record struct CommittedOffset(TopicPartition Partition, long Offset, string? Metadata);

/// <summary>
/// Commits and reads a consumer group's offsets together with their metadata (Confluent.Kafka's API carries
/// offsets only). Called on the poll thread with the consumer that owns the partitions.
/// </summary>
internal interface IGroupOffsetStore
{
    /// <summary>
    /// Commits synchronously. Throws <see cref="KafkaException"/> when the request failed and
    /// <see cref="TopicPartitionOffsetException"/> when some partitions failed, as Confluent's Commit does.
    /// </summary>
    void Commit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets);

    /// <summary>Reads the group's committed offsets and metadata; throws <see cref="KafkaException"/> on failure.</summary>
    IReadOnlyList<CommittedOffset> ReadCommitted(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<TopicPartition> partitions, TimeSpan timeout);
}
