using Confluent.Kafka;
using ReliableKafka.Serialization.Internal;

namespace ReliableKafka.Producing.Internal;

/// <summary>Serializes, stamps a message id, produces through the shared client and translates failures.</summary>
internal sealed class ReliableProducer<TKey, TValue>(
    string name,
    ProducerClientRegistry registry,
    IServiceProvider services,
    TimeProvider time) : IReliableProducer<TKey, TValue>
{
    private readonly ISerializer<TKey> _keySerializer = Serdes.GetSerializer<TKey>(services, name);
    private readonly ISerializer<TValue> _valueSerializer = Serdes.GetSerializer<TValue>(services, name);

    public string Name { get; } = name;

    public Task<ProduceResult> ProduceAsync(string topic, TKey key, TValue value, CancellationToken cancellationToken = default) =>
        ProduceAsync(topic, new Message<TKey, TValue> { Key = key, Value = value }, cancellationToken);

    public async Task<ProduceResult> ProduceAsync(string topic, Message<TKey, TValue> message, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentNullException.ThrowIfNull(message);

        var producer = registry.Get(Name).GetProducer(topic);
        var messageId = MessageIds.CopyWithId(message.Headers, time, out var headers);
        var raw = new Message<byte[]?, byte[]?>
        {
            Key = Serialize(_keySerializer, message.Key, MessageComponentType.Key, topic, headers, messageId),
            Value = Serialize(_valueSerializer, message.Value, MessageComponentType.Value, topic, headers, messageId),
            Headers = headers,
            Timestamp = message.Timestamp,
        };

        try
        {
            var report = await producer.ProduceAsync(topic, raw, cancellationToken).ConfigureAwait(false);
            return new ProduceResult(report.TopicPartitionOffset, messageId, report.Status, report.Timestamp);
        }
        catch (ProduceException<byte[]?, byte[]?> e)
        {
            throw new ReliableKafkaProduceException(e.Error, topic, messageId, e);
        }
        catch (KafkaException e)
        {
            throw new ReliableKafkaProduceException(e.Error, topic, messageId, e);
        }
    }

    private static byte[]? Serialize<T>(ISerializer<T> serializer, T data, MessageComponentType component, string topic, Headers headers, string messageId)
    {
        try
        {
            return serializer.Serialize(data, new SerializationContext(component, topic, headers));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var code = component == MessageComponentType.Key ? ErrorCode.Local_KeySerialization : ErrorCode.Local_ValueSerialization;
            throw new ReliableKafkaProduceException(new Error(code, $"{component} serialization failed: {e.Message}"), topic, messageId, e);
        }
    }
}
