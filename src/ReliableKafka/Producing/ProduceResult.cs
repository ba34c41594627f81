using System.Text;
using Confluent.Kafka;

namespace ReliableKafka;

/// <summary>Where an acknowledged message was written.</summary>
public sealed class ProduceResult
{
    private readonly byte[]? _messageIdUtf8;
    private string? _messageId;
    private TopicPartitionOffset? _topicPartitionOffset;

    /// <summary>Initializes a new instance (for tests of code that uses <see cref="IReliableProducer{TKey, TValue}"/>).</summary>
    /// <param name="topicPartitionOffset">The topic, partition and offset.</param>
    /// <param name="messageId">The message id.</param>
    /// <param name="status">Whether the broker confirmed the write.</param>
    /// <param name="timestamp">The message timestamp.</param>
    public ProduceResult(TopicPartitionOffset topicPartitionOffset, string? messageId, PersistenceStatus status, Timestamp timestamp)
    {
        ArgumentNullException.ThrowIfNull(topicPartitionOffset);
        _topicPartitionOffset = topicPartitionOffset;
        Topic = topicPartitionOffset.Topic;
        Partition = topicPartitionOffset.Partition;
        Offset = topicPartitionOffset.Offset;
        _messageId = messageId;
        Status = status;
        Timestamp = timestamp;
    }

    // The delivery path keeps the parts and builds TopicPartitionOffset only when asked: one allocation less per message.
    internal ProduceResult(string topic, Partition partition, Offset offset, byte[]? messageIdUtf8, PersistenceStatus status, Timestamp timestamp)
    {
        Topic = topic;
        Partition = partition;
        Offset = offset;
        _messageIdUtf8 = messageIdUtf8;
        Status = status;
        Timestamp = timestamp;
    }

    /// <summary>
    /// Gets the topic, partition and offset. The offset is <see cref="Offset.Unset"/> when acks=0 (the broker sends no answer).
    /// </summary>
    public TopicPartitionOffset TopicPartitionOffset => _topicPartitionOffset ??= new TopicPartitionOffset(Topic, Partition, Offset);

    /// <summary>
    /// Gets the id in the message's <see cref="ReliableKafkaHeaders.MessageId"/> header, or <see langword="null"/>
    /// when <see cref="ProducerOptions.MessageIdHeader"/> is off and the message carried none.
    /// </summary>
    public string? MessageId => _messageId ??= _messageIdUtf8 is null ? null : Encoding.UTF8.GetString(_messageIdUtf8);

    /// <summary>Gets whether the broker confirmed the write (<see cref="PersistenceStatus.Persisted"/>), or acks=0 made it unknowable.</summary>
    public PersistenceStatus Status { get; }

    /// <summary>Gets the message timestamp the broker reported.</summary>
    public Timestamp Timestamp { get; }

    /// <summary>Gets the topic.</summary>
    public string Topic { get; }

    /// <summary>Gets the partition.</summary>
    public Partition Partition { get; }

    /// <summary>Gets the offset (<see cref="Offset.Unset"/> when acks=0).</summary>
    public Offset Offset { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Topic} [{Partition.Value}] @{Offset.Value} ({Status}, id {MessageId ?? "none"})";
}
