using Confluent.Kafka;

namespace ReliableKafka;

/// <summary>Where an acknowledged message was written.</summary>
/// <param name="TopicPartitionOffset">
/// The topic, partition and offset. The offset is <see cref="Offset.Unset"/> when acks=0 (the broker sends no answer).
/// </param>
/// <param name="MessageId">The id in the message's <see cref="ReliableKafkaHeaders.MessageId"/> header.</param>
/// <param name="Status">Whether the broker confirmed the write (<see cref="PersistenceStatus.Persisted"/>), or acks=0 made it unknowable.</param>
/// <param name="Timestamp">The message timestamp the broker reported.</param>
public sealed record ProduceResult(TopicPartitionOffset TopicPartitionOffset, string MessageId, PersistenceStatus Status, Timestamp Timestamp)
{
    /// <summary>Gets the topic.</summary>
    public string Topic => TopicPartitionOffset.Topic;

    /// <summary>Gets the partition.</summary>
    public Partition Partition => TopicPartitionOffset.Partition;

    /// <summary>Gets the offset.</summary>
    public Offset Offset => TopicPartitionOffset.Offset;
}
