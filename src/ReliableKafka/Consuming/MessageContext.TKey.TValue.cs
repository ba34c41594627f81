using Confluent.Kafka;

namespace ReliableKafka;

/// <summary>A consumed record, deserialized, with where it came from. Build one for a handler's unit test with <see cref="MessageContext.Create{TKey, TValue}"/>.</summary>
/// <typeparam name="TKey">The key type.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
public sealed class MessageContext<TKey, TValue>
{
    private string? _messageId;

    internal MessageContext(
        TKey key,
        TValue value,
        ConsumeResult<byte[]?, byte[]?> record,
        Headers headers,
        string consumerName,
        string groupId,
        CancellationToken cancellationToken)
        : this(key, value, record.TopicPartitionOffset, record.Message.Timestamp, headers, consumerName, groupId, cancellationToken)
    {
    }

    internal MessageContext(
        TKey key,
        TValue value,
        TopicPartitionOffset topicPartitionOffset,
        Timestamp timestamp,
        Headers headers,
        string consumerName,
        string groupId,
        CancellationToken cancellationToken)
    {
        Key = key;
        Value = value;
        Headers = headers;
        TopicPartitionOffset = topicPartitionOffset;
        Timestamp = timestamp;
        ConsumerName = consumerName;
        GroupId = groupId;
        CancellationToken = cancellationToken;
    }

    /// <summary>Gets the key (default for a record without a key).</summary>
    public TKey Key { get; }

    /// <summary>Gets the value (default for a tombstone, a record whose value is null).</summary>
    public TValue Value { get; }

    /// <summary>Gets the record's headers.</summary>
    public Headers Headers { get; }

    /// <summary>Gets the record's topic, partition and offset.</summary>
    public TopicPartitionOffset TopicPartitionOffset { get; }

    /// <summary>Gets the topic.</summary>
    public string Topic => TopicPartitionOffset.Topic;

    /// <summary>Gets the partition.</summary>
    public Partition Partition => TopicPartitionOffset.Partition;

    /// <summary>Gets the offset.</summary>
    public Offset Offset => TopicPartitionOffset.Offset;

    /// <summary>Gets the record's timestamp (the producer's create time or the broker's append time, as the topic says).</summary>
    public Timestamp Timestamp { get; }

    /// <summary>Gets the id from the <see cref="ReliableKafkaHeaders.MessageId"/> header, or <see langword="null"/> when the producer did not set one.</summary>
    public string? MessageId => _messageId ??= Producing.Internal.MessageIds.Read(Headers);

    /// <summary>Gets the name of the consumer that received the record.</summary>
    public string ConsumerName { get; }

    /// <summary>Gets the consumer group.</summary>
    public string GroupId { get; }

    /// <summary>Gets which attempt this is for the record: 1 the first time, 2 on the first retry (see <see cref="ConsumerOptions.Retry"/>).</summary>
    public int Attempt { get; internal set; } = 1;

    /// <summary>Gets the token that fires when the handler should give up (see <see cref="IMessageHandler{TKey, TValue}.HandleAsync"/>).</summary>
    public CancellationToken CancellationToken { get; }
}
