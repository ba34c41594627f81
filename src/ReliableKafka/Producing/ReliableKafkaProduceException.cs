using Confluent.Kafka;
using ReliableKafka.Producing.Internal;

namespace ReliableKafka;

/// <summary>A message was not acknowledged by Kafka (or could not be serialized).</summary>
public sealed class ReliableKafkaProduceException : Exception
{
    /// <summary>Initializes a new instance.</summary>
    public ReliableKafkaProduceException()
    {
    }

    /// <summary>Initializes a new instance with a message.</summary>
    /// <param name="message">The message.</param>
    public ReliableKafkaProduceException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with a message and a cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ReliableKafkaProduceException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance for a Kafka error.</summary>
    /// <param name="error">The Kafka error.</param>
    /// <param name="topic">The topic produced to.</param>
    /// <param name="messageId">The id of the message.</param>
    /// <param name="innerException">The cause.</param>
    public ReliableKafkaProduceException(Error error, string topic, string? messageId, Exception? innerException)
        : this(error, topic, messageId, innerException, retriable: null)
    {
    }

    /// <summary>Initializes a new instance for a Kafka error whose retriability is known better than its code says (a serializer's).</summary>
    internal ReliableKafkaProduceException(Error error, string topic, string? messageId, Exception? innerException, bool? retriable)
        : base(Describe(error, topic, messageId, retriable), innerException)
    {
        ArgumentNullException.ThrowIfNull(error);
        ErrorCode = error.Code;
        IsFatal = error.IsFatal;
        IsRetriable = !error.IsFatal && (retriable ?? KafkaErrors.IsRetriable(error.Code));
        Topic = topic;
        MessageId = messageId;
    }

    /// <summary>Gets the Kafka error code, e.g. <see cref="ErrorCode.Local_MsgTimedOut"/>.</summary>
    public ErrorCode ErrorCode { get; }

    /// <summary>
    /// Gets a value indicating whether producing the same message again may succeed (a transient broker or
    /// network condition, or a serializer that could not reach its schema registry). A retry after a timeout can write the message twice: give it the same
    /// <see cref="MessageId"/> so an idempotent consumer drops the copy.
    /// </summary>
    public bool IsRetriable { get; }

    /// <summary>Gets a value indicating whether the producer is unusable (for example an idempotence failure); every later call fails too.</summary>
    public bool IsFatal { get; }

    /// <summary>Gets the topic produced to.</summary>
    public string? Topic { get; }

    /// <summary>Gets the id of the message that failed.</summary>
    public string? MessageId { get; }

    private static string Describe(Error error, string topic, string? messageId, bool? retriable)
    {
        ArgumentNullException.ThrowIfNull(error);
        var kind = error.IsFatal ? "fatal" : (retriable ?? KafkaErrors.IsRetriable(error.Code)) ? "retriable" : "not retriable";
        return $"Producing message {messageId ?? "(no id)"} to '{topic}' failed: {error.Code} ({kind}): {error.Reason}";
    }
}
