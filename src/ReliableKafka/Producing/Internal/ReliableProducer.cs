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
    private ProducerClient? _client;

    public string Name { get; } = name;

    public Task<ProduceResult> ProduceAsync(string topic, TKey key, TValue value, CancellationToken cancellationToken = default) =>
        ProduceAsync(topic, new Message<TKey, TValue> { Key = key, Value = value }, cancellationToken);

    public Task<ProduceResult> ProduceAsync(string topic, Message<TKey, TValue> message, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentNullException.ThrowIfNull(message);

        // A cancelled call sends nothing (once sent, a message cannot be taken back: cancelling later only stops the waiting).
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<ProduceResult>(cancellationToken);
        }

        byte[]? messageId = null;
        try
        {
            var client = _client ??= registry.Get(Name);
            Headers? headers;
            if (client.MessageIdHeader)
            {
                messageId = MessageIds.CopyWithId(message.Headers, time, out var withId);
                headers = withId;
            }
            else
            {
                headers = MessageIds.CopyOrNull(message.Headers);
                messageId = MessageIds.ReadUtf8(headers);
            }

            var raw = new Message<byte[]?, byte[]?>
            {
                Key = Serialize(_keySerializer, message.Key, MessageComponentType.Key, topic, headers, messageId),
                Value = Serialize(_valueSerializer, message.Value, MessageComponentType.Value, topic, headers, messageId),
                Headers = headers,
                Timestamp = message.Timestamp,
            };

            // Confluent's callback API with our own completion costs less per message than its ProduceAsync.
            var completion = new DeliveryCompletion(topic, messageId, cancellationToken);
            try
            {
                client.Produce(topic, raw, completion.Handler);
            }
            catch
            {
                // Not queued: no delivery report will come to end the cancellation registration.
                completion.Abandon();
                throw;
            }

            return completion.Task;
        }
        catch (ProduceException<byte[]?, byte[]?> e)
        {
            return Task.FromException<ProduceResult>(new ReliableKafkaProduceException(e.Error, topic, IdText(messageId), e));
        }
        catch (KafkaException e)
        {
            return Task.FromException<ProduceResult>(new ReliableKafkaProduceException(e.Error, topic, IdText(messageId), e));
        }
        catch (ReliableKafkaProduceException e)
        {
            return Task.FromException<ProduceResult>(e);
        }
        catch (ObjectDisposedException e)
        {
            // The host is stopping (the producer was disposed with the container): a failed task, never a hanging one.
            return Task.FromException<ProduceResult>(e);
        }
    }

    private static string? IdText(byte[]? messageId) => messageId is null ? null : System.Text.Encoding.UTF8.GetString(messageId);

    private static byte[]? Serialize<T>(ISerializer<T> serializer, T data, MessageComponentType component, string topic, Headers? headers, byte[]? messageId)
    {
        try
        {
            return serializer.Serialize(data, new SerializationContext(component, topic, headers));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var code = component == MessageComponentType.Key ? ErrorCode.Local_KeySerialization : ErrorCode.Local_ValueSerialization;
            throw new ReliableKafkaProduceException(new Error(code, $"{component} serialization failed: {e.Message}"), topic, IdText(messageId), e);
        }
    }
}
