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
    /// Gets or sets how long a claim holds unless renewed. While a handler runs, its member renews the claim every
    /// third of this, so a slow handler keeps it; a member that crashed stops renewing, and the record's next owner
    /// takes the record over once the claim expires. Shorter means a faster takeover after a crash, and more
    /// renewals (one store call per running handler per third of this).
    /// </summary>
    /// <value>The default is 30 seconds.</value>
    [OptionRange(100, 86_400_000)]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Gets or sets how long a record whose message another member holds (<see cref="Deduplication.ClaimStatus.InProgressElsewhere"/>)
    /// waits for that claim to complete, be released or expire before the attempt counts as failed (it is then
    /// retried, and the failure policy applies as for a failing handler). A live member renews its claims, so this
    /// also bounds how long a record waits for another member's slow handler of the same message.
    /// </summary>
    /// <value>The default is <see langword="null"/>: <see cref="LeaseDuration"/> plus 10 seconds, long enough for a crashed member's claim to expire.</value>
    [OptionRange(0, 86_400_000)]
    public TimeSpan? ClaimWaitTimeout { get; set; }
}
