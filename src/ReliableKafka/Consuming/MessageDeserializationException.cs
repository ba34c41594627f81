using Confluent.Kafka;

namespace ReliableKafka;

/// <summary>A record's key or value could not be deserialized; the record is treated as a failed handler (its raw bytes stay in Kafka).</summary>
public sealed class MessageDeserializationException : Exception
{
    /// <summary>Initializes a new instance.</summary>
    public MessageDeserializationException()
    {
    }

    /// <summary>Initializes a new instance with a message.</summary>
    /// <param name="message">The message.</param>
    public MessageDeserializationException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with a message and a cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public MessageDeserializationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance for a record.</summary>
    /// <param name="component">The key or the value.</param>
    /// <param name="record">Where the record is.</param>
    /// <param name="innerException">The deserializer's exception.</param>
    public MessageDeserializationException(MessageComponentType component, TopicPartitionOffset record, Exception innerException)
        : base($"The {component.ToString().ToLowerInvariant()} of {record?.Topic} [{record?.Partition.Value}] @{record?.Offset.Value} could not be deserialized: {innerException?.Message}", innerException)
    {
        Component = component;
        Record = record;
    }

    /// <summary>Gets whether the key or the value failed.</summary>
    public MessageComponentType Component { get; }

    /// <summary>Gets where the record is.</summary>
    public TopicPartitionOffset? Record { get; }
}
