namespace ReliableKafka;

/// <summary>
/// What ReliableKafka promises about each message, and the Kafka settings that keep the promise. A guarantee
/// is a preset for the producer and the consumer together; raw settings that contradict it are startup errors.
/// </summary>
public enum DeliveryGuarantee
{
    /// <summary>
    /// Each message is delivered at most once and may be lost: for metrics-like data where speed matters more
    /// than completeness. Producer: acks=0 (unless <see cref="ProducerOptions.Acks"/> says otherwise), no
    /// idempotence, no retries. Consumer: a record's offset is committed <em>before</em> its handler runs, so a
    /// crash or a failing handler loses it and it is never handled twice.
    /// </summary>
    AtMostOnce = 1,

    /// <summary>
    /// The default. No message is lost; a message may be handled more than once after a crash or a rebalance.
    /// Producer: acks=all, enable.idempotence=true, unlimited retries, at most 5 requests in flight (order kept).
    /// Consumer: a record's offset is committed only after its handler succeeded, and never past a record whose
    /// handler has not.
    /// </summary>
    AtLeastOnce = 0,

    /// <summary>
    /// At-least-once delivery plus an idempotent consumer, so that side effects happen once. Producer: as
    /// <see cref="AtLeastOnce"/> (each message carries its <see cref="ReliableKafkaHeaders.MessageId"/>). Consumer: as
    /// <see cref="AtLeastOnce"/>, and a deduplication store is required (<see cref="DeduplicationOptions"/>): a record
    /// processed before is not handled again. For side effects in the PostgreSQL database of the store's
    /// transactional inbox, exactly once even across crashes; for other side effects, a crash between the effect and
    /// its completion record can still repeat it. Kafka-to-Kafka transactions come later.
    /// </summary>
    ExactlyOnce = 2,
}
