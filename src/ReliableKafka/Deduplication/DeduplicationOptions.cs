using ReliableKafka.Configuration.Internal;

namespace ReliableKafka;

/// <summary>
/// How one consumer uses the deduplication store (<c>ReliableKafka:Consumers:&lt;name&gt;:Deduplication</c>), the
/// idempotent consumer: each record is claimed in the store before its handler runs, completed when the handler
/// succeeded, released when it failed; a record completed before is not handled again.
/// </summary>
/// <remarks>
/// A record's message id is, in this order: what the consumer's message id selector returns
/// (<c>UseMessageIdSelector</c>), the <see cref="ReliableKafkaHeaders.MessageId"/> header (set by ReliableKafka's
/// producers, so a producer-side resend is caught too), or else <c>topic/partition@offset</c>, which catches
/// redeliveries after crashes and rebalances but not a message produced twice. Ids are scoped by consumer group.
/// </remarks>
public sealed class DeduplicationOptions
{
    /// <summary>
    /// Gets or sets whether this consumer deduplicates: <see langword="true"/> requires a store (added with
    /// <c>UseInMemoryDeduplication</c>, <c>UseSqliteDeduplication</c> or <c>UsePostgreSqlDeduplication</c>),
    /// <see langword="false"/> turns it off for this consumer. Not available under AtMostOnce.
    /// </summary>
    /// <value>
    /// The default is <see langword="null"/>: on when a store was added (and the guarantee is not AtMostOnce),
    /// off otherwise. <see cref="DeliveryGuarantee.ExactlyOnce"/> requires it on.
    /// </value>
    public bool? Enabled { get; set; }

    /// <summary>
    /// Gets or sets how long a claim holds while the handler runs (one attempt). A member that crashed mid-handler
    /// leaves its claim behind; the record's next owner waits until it expires, then handles the record again. A
    /// handler attempt that runs longer than this can be taken over by another member (a duplicate), so keep it
    /// longer than your slowest attempt.
    /// </summary>
    /// <value>The default is 60 seconds.</value>
    [OptionRange(100, 86_400_000)]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Gets or sets how long a record whose message another member holds (<see cref="Deduplication.ClaimStatus.InProgressElsewhere"/>)
    /// waits for that claim to complete, be released or expire before the attempt counts as failed (it is then
    /// retried, and the failure policy applies as for a failing handler).
    /// </summary>
    /// <value>The default is <see langword="null"/>: <see cref="LeaseDuration"/> plus 10 seconds, long enough for any claim to expire.</value>
    [OptionRange(0, 86_400_000)]
    public TimeSpan? ClaimWaitTimeout { get; set; }
}
