using Confluent.Kafka;
using ReliableKafka.Diagnostics.Internal;
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

    public Task<ProduceResult> ProduceAsync(string topic, Message<TKey, TValue> message, CancellationToken cancellationToken = default) =>
        ProduceAsync(topic, topic, message, cancellationToken);

    /// <summary>
    /// Produces to <paramref name="topic"/> a message serialized as if for <paramref name="serializeAs"/> (a scheduled
    /// message waits in a delay topic, but its bytes are those of its target topic: a Schema Registry subject, say).
    /// </summary>
    internal Task<ProduceResult> ProduceAsync(string topic, string serializeAs, Message<TKey, TValue> message, CancellationToken cancellationToken)
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

            var caller = System.Diagnostics.Activity.Current;
            if (Tracing.StartSend(topic, IdText(messageId), ref headers) is { } activity)
            {
                try
                {
                    return Traced(activity, SendAsync(client, topic, serializeAs, message, headers, messageId, cancellationToken));
                }
                finally
                {
                    // The send span is current while the message is serialized and queued, not in the caller's flow after it.
                    System.Diagnostics.Activity.Current = caller;
                }
            }

            return SendAsync(client, topic, serializeAs, message, headers, messageId, cancellationToken);
        }
        catch (Exception e) when (Failed(e, topic, messageId) is { } failed)
        {
            return failed;
        }
    }

    private static async Task<ProduceResult> Traced(System.Diagnostics.Activity activity, Task<ProduceResult> sent)
    {
        try
        {
            return await sent.ConfigureAwait(false);
        }
        finally
        {
            Tracing.EndSend(activity, sent);
        }
    }

    /// <summary>Serializes and queues the message (its headers final).</summary>
    private Task<ProduceResult> SendAsync(
        ProducerClient client, string topic, string serializeAs, Message<TKey, TValue> message, Headers? headers, byte[]? messageId, CancellationToken cancellationToken)
    {
        try
        {
            if (_keySerializer.IsAsync || _valueSerializer.IsAsync)
            {
                return SerializeThenSendAsync(client, topic, serializeAs, message, headers, messageId, cancellationToken);
            }

            var raw = new Message<byte[]?, byte[]?>
            {
                Key = Serialize(_keySerializer.Sync!, message.Key, MessageComponentType.Key, serializeAs, headers, messageId),
                Value = Serialize(_valueSerializer.Sync!, message.Value, MessageComponentType.Value, serializeAs, headers, messageId),
                Headers = headers,
                Timestamp = message.Timestamp,
            };
            return client.SendAsync(topic, raw, messageId, cancellationToken);
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
        ProducerClient client, string topic, string serializeAs, Message<TKey, TValue> message, Headers? headers, byte[]? messageId, CancellationToken cancellationToken)
    {
        var key = await SerializeAsync(_keySerializer, message.Key, MessageComponentType.Key, serializeAs, headers, messageId).ConfigureAwait(false);
        var value = await SerializeAsync(_valueSerializer, message.Value, MessageComponentType.Value, serializeAs, headers, messageId).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var raw = new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers, Timestamp = message.Timestamp };
        Task<ProduceResult> sent;
        try
        {
            sent = client.SendAsync(topic, raw, messageId, cancellationToken);
        }
        catch (Exception e) when (Failed(e, topic, messageId) is { } failed)
        {
            sent = failed;
        }

        return await sent.ConfigureAwait(false);
    }

    /// <summary>The failed task for an exception of serializing or queueing, or null for an exception that is a bug (rethrown).</summary>
    internal static Task<ProduceResult>? Failed(Exception e, string topic, byte[]? messageId) => e switch
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
