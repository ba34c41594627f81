using Confluent.Kafka;

namespace ReliableKafka;

/// <summary>
/// Schedules messages for delivery at a later time, on Kafka alone (delay tier topics and a forwarder; see
/// <see cref="DelayedDeliveryOptions"/>). Registered by <c>AddDelayedDelivery</c> for every key and value type; thread-safe.
/// A message is delivered to its topic once it is due, never before, with its key, value and headers and its schedule id
/// as <see cref="ReliableKafkaHeaders.MessageId"/> (an idempotent consumer drops a repeated delivery), unless cancelled.
/// Keys and values are serialized as for their target topic, by the serializers a producer named
/// <c>reliablekafka-delay</c> would use (keyed by that name, else unkeyed, else the built-ins, else JSON).
/// </summary>
/// <typeparam name="TKey">The key type.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
public interface IMessageScheduler<TKey, TValue> : IMessageScheduler
{
    /// <summary>
    /// Schedules a message for <paramref name="dueAt"/>; completes when it is acknowledged (acks=all) in the delay topics,
    /// or in <paramref name="topic"/> itself when it is due already.
    /// </summary>
    /// <param name="topic">The topic to deliver the message to.</param>
    /// <param name="key">The key (it keeps its partitioning in the delay topics and the target).</param>
    /// <param name="value">The value.</param>
    /// <param name="dueAt">When to deliver it (rounded up to the millisecond; from 1970 on).</param>
    /// <param name="cancellationToken">Stops waiting for the acknowledgement; the message may still be scheduled.</param>
    /// <returns>The schedule id (to cancel it), its due time, and where it was written.</returns>
    /// <exception cref="ReliableKafkaProduceException">The scheduled record was not acknowledged.</exception>
    Task<ScheduleResult> ScheduleAsync(string topic, TKey key, TValue value, DateTimeOffset dueAt, CancellationToken cancellationToken = default);

    /// <summary>Schedules a message for <paramref name="delay"/> from now (see <see cref="ScheduleAsync(string, TKey, TValue, DateTimeOffset, CancellationToken)"/>).</summary>
    /// <param name="topic">The topic to deliver the message to.</param>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="delay">How long from now to deliver it.</param>
    /// <param name="cancellationToken">Stops waiting for the acknowledgement.</param>
    /// <returns>The schedule id, its due time, and where it was written.</returns>
    Task<ScheduleResult> ScheduleAsync(string topic, TKey key, TValue value, TimeSpan delay, CancellationToken cancellationToken = default);

    /// <summary>
    /// Schedules a message with headers (see <see cref="ScheduleAsync(string, TKey, TValue, DateTimeOffset, CancellationToken)"/>).
    /// A <see cref="ReliableKafkaHeaders.MessageId"/> header of its own makes the schedule id derived from that id, the topic
    /// and the due time, so that scheduling it again after an unclear failure (a timeout) is the same message: an idempotent consumer
    /// handles it once. The delivered message carries the schedule id as its message id.
    /// </summary>
    /// <param name="topic">The topic to deliver the message to.</param>
    /// <param name="message">The message (its timestamp is not kept: the delivered record gets the forwarder's time).</param>
    /// <param name="dueAt">When to deliver it.</param>
    /// <param name="cancellationToken">Stops waiting for the acknowledgement.</param>
    /// <returns>The schedule id, its due time, and where it was written.</returns>
    Task<ScheduleResult> ScheduleAsync(string topic, Message<TKey, TValue> message, DateTimeOffset dueAt, CancellationToken cancellationToken = default);
}
