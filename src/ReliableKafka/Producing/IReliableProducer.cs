using Confluent.Kafka;

namespace ReliableKafka;

/// <summary>
/// Produces messages with the guarantee of its options. Registered as a singleton by <c>AddProducer</c>;
/// thread-safe. Every message carries a unique id in the <see cref="ReliableKafkaHeaders.MessageId"/> header
/// (unless <see cref="ProducerOptions.MessageIdHeader"/> is off).
/// </summary>
/// <remarks>
/// Keys and values are serialized by the <see cref="ISerializer{T}"/> or <see cref="IAsyncSerializer{T}"/> registered
/// in DI under the producer's name (keyed service), else by one registered without a key, else by Confluent's
/// built-in serializers for string, byte[], int, long, float, double and <see cref="Null"/>, else as JSON. With an
/// asynchronous serializer a message is queued when its serialization completes: calls made one after another
/// without awaiting keep their order only while the serializer completes synchronously (Schema Registry's does once
/// it knows the subject's schema id); await each call when order matters.
/// </remarks>
/// <typeparam name="TKey">The key type; <see cref="Null"/> for messages without a key.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
public interface IReliableProducer<TKey, TValue>
{
    /// <summary>Gets the producer's name (its options are <c>ReliableKafka:Producers:&lt;name&gt;</c>).</summary>
    string Name { get; }

    /// <summary>
    /// Produces a message and completes when the broker acknowledged it as the guarantee requires (under
    /// AtLeastOnce: written to all in-sync replicas). Messages with the same key go to the same partition and
    /// keep their order.
    /// </summary>
    /// <param name="topic">The topic.</param>
    /// <param name="key">The key; it chooses the partition.</param>
    /// <param name="value">The value.</param>
    /// <param name="cancellationToken">Stops waiting for the acknowledgement; the message may still be delivered.</param>
    /// <returns>Where the message was written, and its id.</returns>
    /// <exception cref="ReliableKafkaProduceException">The message was not acknowledged (see its error code, <see cref="ReliableKafkaProduceException.IsRetriable"/> and <see cref="ReliableKafkaProduceException.IsFatal"/>).</exception>
    Task<ProduceResult> ProduceAsync(string topic, TKey key, TValue value, CancellationToken cancellationToken = default);

    /// <summary>
    /// Produces a message with headers or a timestamp (see <see cref="ProduceAsync(string, TKey, TValue, CancellationToken)"/>).
    /// A <see cref="ReliableKafkaHeaders.MessageId"/> header already present is kept, so that a resend of the
    /// same message can carry the same id; otherwise a new id is added. The caller's headers are not modified.
    /// </summary>
    /// <param name="topic">The topic.</param>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Stops waiting for the acknowledgement; the message may still be delivered.</param>
    /// <returns>Where the message was written, and its id.</returns>
    /// <exception cref="ReliableKafkaProduceException">The message was not acknowledged.</exception>
    Task<ProduceResult> ProduceAsync(string topic, Message<TKey, TValue> message, CancellationToken cancellationToken = default);
}
