using Confluent.Kafka;

namespace ReliableKafka.Testing;

/// <summary>An operation on the <see cref="EmbeddedKafkaCluster"/> was refused by librdkafka's mock cluster.</summary>
public sealed class EmbeddedKafkaClusterException : Exception
{
    /// <summary>Initializes a new instance with a message.</summary>
    /// <param name="message">The message.</param>
    public EmbeddedKafkaClusterException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public EmbeddedKafkaClusterException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance for an operation that failed with a Kafka error code.</summary>
    /// <param name="operation">What was attempted, e.g. "Setting broker 7 down".</param>
    /// <param name="errorCode">The error librdkafka returned.</param>
    public EmbeddedKafkaClusterException(string operation, ErrorCode errorCode)
        : base($"{operation} failed: {errorCode} ({new Error(errorCode).Reason}).")
    {
        ErrorCode = errorCode;
    }

    /// <summary>Initializes a new instance.</summary>
    public EmbeddedKafkaClusterException()
    {
    }

    /// <summary>Gets the error librdkafka returned, or <see cref="ErrorCode.NoError"/> when there was none.</summary>
    public ErrorCode ErrorCode { get; }
}
