using Confluent.Kafka;

namespace ReliableKafka;

/// <summary>Builds <see cref="MessageContext{TKey, TValue}"/> instances, for unit tests of message handlers (no broker needed).</summary>
public static class MessageContext
{
    /// <summary>Creates the context a handler would get for a record with this key, value and origin.</summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="topic">The record's topic.</param>
    /// <param name="partition">The record's partition.</param>
    /// <param name="offset">The record's offset.</param>
    /// <param name="headers">The record's headers (a message id goes in <see cref="ReliableKafkaHeaders.MessageId"/>), or <see langword="null"/> for none.</param>
    /// <param name="timestamp">The record's timestamp, or <see langword="null"/> for <see cref="Timestamp.Default"/>.</param>
    /// <param name="consumerName">The name of the consumer.</param>
    /// <param name="groupId">The consumer group.</param>
    /// <param name="attempt">Which attempt this is (1 the first time).</param>
    /// <param name="cancellationToken">The token of <see cref="MessageContext{TKey, TValue}.CancellationToken"/>.</param>
    /// <returns>The context.</returns>
    /// <exception cref="ArgumentException">The topic or a name is empty, the partition or offset is negative, or the attempt is below 1.</exception>
    public static MessageContext<TKey, TValue> Create<TKey, TValue>(
        TKey key,
        TValue value,
        string topic = "test-topic",
        int partition = 0,
        long offset = 0,
        Headers? headers = null,
        Timestamp? timestamp = null,
        string consumerName = "test-consumer",
        string groupId = "test-group",
        int attempt = 1,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentException.ThrowIfNullOrWhiteSpace(consumerName);
        ArgumentException.ThrowIfNullOrWhiteSpace(groupId);
        ArgumentOutOfRangeException.ThrowIfNegative(partition);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        return new MessageContext<TKey, TValue>(
            key,
            value,
            new TopicPartitionOffset(topic, partition, offset),
            timestamp ?? Timestamp.Default,
            headers ?? [],
            consumerName,
            groupId,
            cancellationToken)
        {
            Attempt = attempt,
        };
    }
}
