namespace ReliableKafka;

/// <summary>Names of the Kafka headers ReliableKafka writes and reads.</summary>
public static class ReliableKafkaHeaders
{
    /// <summary>
    /// The unique id of a message, as UTF-8 text (32 hex digits). Added by the producer unless the message has
    /// one already; the idempotent consumer uses it to recognise a message delivered twice.
    /// </summary>
    public const string MessageId = "reliablekafka-message-id";

    /// <summary>Dead-letter records: the topic the record was consumed from.</summary>
    public const string DeadLetterOriginalTopic = "reliablekafka-dlt-original-topic";

    /// <summary>Dead-letter records: the partition the record was consumed from (decimal text).</summary>
    public const string DeadLetterOriginalPartition = "reliablekafka-dlt-original-partition";

    /// <summary>Dead-letter records: the record's offset in its original partition (decimal text).</summary>
    public const string DeadLetterOriginalOffset = "reliablekafka-dlt-original-offset";

    /// <summary>Dead-letter records: the record's original timestamp, in Unix milliseconds (decimal text).</summary>
    public const string DeadLetterOriginalTimestamp = "reliablekafka-dlt-original-timestamp";

    /// <summary>Dead-letter records: the consumer group that failed to process the record.</summary>
    public const string DeadLetterConsumerGroup = "reliablekafka-dlt-consumer-group";

    /// <summary>Dead-letter records: the full name of the last exception's type.</summary>
    public const string DeadLetterExceptionType = "reliablekafka-dlt-exception-type";

    /// <summary>Dead-letter records: the last exception's message, truncated to <see cref="DeadLetterOptions.MaxErrorMessageLength"/> characters.</summary>
    public const string DeadLetterExceptionMessage = "reliablekafka-dlt-exception-message";

    /// <summary>Dead-letter records: how many times the handler ran (0 when the record could not be deserialized).</summary>
    public const string DeadLetterAttempts = "reliablekafka-dlt-attempts";

    /// <summary>Dead-letter records: when the record was dead-lettered (ISO 8601, UTC).</summary>
    public const string DeadLetterFailedAt = "reliablekafka-dlt-failed-at";

    /// <summary>How many times a record was sent back from a dead-letter topic by <see cref="IDeadLetterRedriver"/> (decimal text).</summary>
    public const string RedriveCount = "reliablekafka-redrive-count";

    /// <summary>Scheduled messages (<see cref="IMessageScheduler{TKey, TValue}"/>): the topic the message is delivered to when due.</summary>
    public const string DelayTarget = "reliablekafka-delay-target";

    /// <summary>Scheduled messages: when the message is due, in Unix milliseconds (decimal text).</summary>
    public const string DelayDueAt = "reliablekafka-delay-due-at";

    /// <summary>Scheduled messages: when the record may leave the delay tier it is in, in Unix milliseconds (decimal text).</summary>
    public const string DelayHopAt = "reliablekafka-delay-hop-at";

    /// <summary>Retry topics (<see cref="FailurePolicy.RetryTopic"/>): when the record may be handled again, in Unix milliseconds (decimal text).</summary>
    public const string RetryNotBefore = "reliablekafka-retry-not-before";

    /// <summary>Retry topics: how many times the record failed for good in a topic and was sent on (decimal text; 0 for a record that only followed its parked key).</summary>
    public const string RetryCount = "reliablekafka-retry-count";

    /// <summary>Retry topics: the topic of the record as first consumed (its source topic).</summary>
    public const string RetryOriginalTopic = "reliablekafka-retry-original-topic";

    /// <summary>Retry topics: the partition of the record as first consumed (decimal text).</summary>
    public const string RetryOriginalPartition = "reliablekafka-retry-original-partition";

    /// <summary>Retry topics: the offset of the record as first consumed (decimal text).</summary>
    public const string RetryOriginalOffset = "reliablekafka-retry-original-offset";

    /// <summary>Retry topics: the timestamp of the record as first consumed, in Unix milliseconds (decimal text).</summary>
    public const string RetryOriginalTimestamp = "reliablekafka-retry-original-timestamp";

    /// <summary>Retry topics: when the record first failed (ISO 8601).</summary>
    public const string RetryFirstFailedAt = "reliablekafka-retry-first-failed-at";

    /// <summary>Retry topics: the type of the first failure's exception.</summary>
    public const string RetryFirstExceptionType = "reliablekafka-retry-first-exception-type";

    /// <summary>Retry topics: the first failure's exception message (at most <see cref="DeadLetterOptions.MaxErrorMessageLength"/> characters).</summary>
    public const string RetryFirstExceptionMessage = "reliablekafka-retry-first-exception-message";

    /// <summary>
    /// Retry topics with parking: the partitions whose parked key this record holds, and the record's offset in each,
    /// as <c>topic:partition:offset</c> entries separated by spaces; once the record is handled or dead-lettered, each is told.
    /// </summary>
    public const string RetryParkedIn = "reliablekafka-retry-parked-in";
}
