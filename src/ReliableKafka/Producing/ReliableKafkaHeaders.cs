namespace ReliableKafka;

/// <summary>Names of the Kafka headers ReliableKafka writes and reads.</summary>
public static class ReliableKafkaHeaders
{
    /// <summary>
    /// The unique id of a message, as UTF-8 text (32 hex digits). Added by the producer unless the message has
    /// one already; the idempotent consumer uses it to recognise a message delivered twice.
    /// </summary>
    public const string MessageId = "reliablekafka-message-id";
}
