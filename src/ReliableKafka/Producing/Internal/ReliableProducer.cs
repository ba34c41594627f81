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
    private readonly MessageSerializer<TKey> _keySerializer = Serdes.GetSerializer<TKey>(services, name);
    private readonly MessageSerializer<TValue> _valueSerializer = Serdes.GetSerializer<TValue>(services, name);
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

            if (_keySerializer.IsAsync || _valueSerializer.IsAsync)
            {
                return SerializeThenSendAsync(client, topic, message, headers, messageId, cancellationToken);
            }

            var raw = new Message<byte[]?, byte[]?>
            {
                Key = Serialize(_keySerializer.Sync!, message.Key, MessageComponentType.Key, topic, headers, messageId),
                Value = Serialize(_valueSerializer.Sync!, message.Value, MessageComponentType.Value, topic, headers, messageId),
                Headers = headers,
                Timestamp = message.Timestamp,
            };
            return Send(client, topic, raw, messageId, cancellationToken);
        }
        catch (Exception e) when (Failed(e, topic, messageId) is { } failed)
        {
            return failed;
        }
    }

    /// <summary>
    /// With an asynchronous serializer: the message is queued once both parts are serialized (at once when the
    /// serializer completes synchronously, as Schema Registry's does once it knows the schema id). Nothing is sent when
    /// serialization fails or the call is cancelled meanwhile.
    /// </summary>
    private async Task<ProduceResult> SerializeThenSendAsync(
        ProducerClient client, string topic, Message<TKey, TValue> message, Headers? headers, byte[]? messageId, CancellationToken cancellationToken)
    {
        var key = await SerializeAsync(_keySerializer, message.Key, MessageComponentType.Key, topic, headers, messageId).ConfigureAwait(false);
        var value = await SerializeAsync(_valueSerializer, message.Value, MessageComponentType.Value, topic, headers, messageId).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var raw = new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers, Timestamp = message.Timestamp };
        Task<ProduceResult> sent;
        try
        {
            sent = Send(client, topic, raw, messageId, cancellationToken);
        }
        catch (Exception e) when (Failed(e, topic, messageId) is { } failed)
        {
            sent = failed;
        }

        return await sent.ConfigureAwait(false);
    }

    /// <summary>Queues serialized bytes; the task completes with the delivery report.</summary>
    private static Task<ProduceResult> Send(ProducerClient client, string topic, Message<byte[]?, byte[]?> raw, byte[]? messageId, CancellationToken cancellationToken)
    {
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

    /// <summary>The failed task for an exception of serializing or queueing, or null for an exception that is a bug (rethrown).</summary>
    private static Task<ProduceResult>? Failed(Exception e, string topic, byte[]? messageId) => e switch
    {
        ProduceException<byte[]?, byte[]?> produce => Task.FromException<ProduceResult>(new ReliableKafkaProduceException(produce.Error, topic, IdText(messageId), produce)),
        KafkaException kafka => Task.FromException<ProduceResult>(new ReliableKafkaProduceException(kafka.Error, topic, IdText(messageId), kafka)),
        ReliableKafkaProduceException reliable => Task.FromException<ProduceResult>(reliable),

        // The host is stopping (the producer was disposed with the container): a failed task, never a hanging one.
        ObjectDisposedException disposed => Task.FromException<ProduceResult>(disposed),
        _ => null,
    };

    private static string? IdText(byte[]? messageId) => messageId is null ? null : System.Text.Encoding.UTF8.GetString(messageId);

    private static byte[]? Serialize<T>(ISerializer<T> serializer, T data, MessageComponentType component, string topic, Headers? headers, byte[]? messageId)
    {
        try
        {
            return serializer.Serialize(data, new SerializationContext(component, topic, headers));
        }
        catch (Exception e)
        {
            // A serializer is given no token: whatever it throws (a timeout of its own included) is a serialization failure.
            throw SerializationFailed(e, component, topic, messageId);
        }
    }

    private static async ValueTask<byte[]?> SerializeAsync<T>(MessageSerializer<T> serializer, T data, MessageComponentType component, string topic, Headers? headers, byte[]? messageId)
    {
        if (serializer.Async is not { } async)
        {
            return Serialize(serializer.Sync!, data, component, topic, headers, messageId);
        }

        try
        {
            return await async.SerializeAsync(data, new SerializationContext(component, topic, headers)).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // A serializer is given no token: whatever it throws (a timeout of its own included) is a serialization failure.
            throw SerializationFailed(e, component, topic, messageId);
        }
    }

    private static ReliableKafkaProduceException SerializationFailed(Exception e, MessageComponentType component, string topic, byte[]? messageId)
    {
        var code = component == MessageComponentType.Key ? ErrorCode.Local_KeySerialization : ErrorCode.Local_ValueSerialization;
        return new ReliableKafkaProduceException(
            new Error(code, $"{component} serialization failed: {e.Message}"), topic, IdText(messageId), e, retriable: PassingFailures.IsPassing(e));
    }
}
