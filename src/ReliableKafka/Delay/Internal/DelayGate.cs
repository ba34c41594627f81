using Confluent.Kafka;
using ReliableKafka.Consuming.Internal;

namespace ReliableKafka.Delay.Internal;

/// <summary>
/// Holds a delay tier record until its hop time (<see cref="ReliableKafkaHeaders.DelayHopAt"/>), less
/// <see cref="Lookahead"/>; a record without one is taken at once (the forwarder then fails it as unreadable).
/// </summary>
/// <param name="tiers">The tier of each tier topic.</param>
internal sealed class DelayGate(IReadOnlyDictionary<string, TimeSpan> tiers) : IRecordGate
{
    /// <summary>
    /// How early a record may be taken: records due within this of each other are fetched and forwarded together
    /// rather than each after a pause, a seek and a fetch of its own. The forwarder waits out the rest before a last hop,
    /// so a message is never delivered before it is due.
    /// </summary>
    public static readonly TimeSpan Lookahead = TimeSpan.FromMilliseconds(20);

    private static readonly long MaxUnixMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    /// <summary>
    /// Gets when a record may be taken: its hop time, but never later than its due time or than a tier after it was
    /// written (its timestamp), so that a damaged hop time far in the future cannot hold the records behind it in the
    /// partition for longer than the tier. (A writer whose clock is ahead stamps both with it: its records wait by as much.)
    /// </summary>
    public DateTimeOffset? NotBefore(ConsumeResult<byte[]?, byte[]?> record)
    {
        var headers = record.Message.Headers;
        if (DelayHeaders.ReadTime(headers, ReliableKafkaHeaders.DelayHopAt) is not { } hopAt)
        {
            return null;
        }

        if (DelayHeaders.ReadTime(headers, ReliableKafkaHeaders.DelayDueAt) is { } dueAt && dueAt < hopAt)
        {
            hopAt = dueAt;
        }

        var written = record.Message.Timestamp.UnixTimestampMs;
        if (record.Message.Timestamp.Type != TimestampType.NotAvailable && tiers.TryGetValue(record.Topic, out var tier)
            && written >= 0 && written < MaxUnixMs - (long)tier.TotalMilliseconds
            && DateTimeOffset.FromUnixTimeMilliseconds(written + (long)tier.TotalMilliseconds) is var tierEnd && tierEnd < hopAt)
        {
            hopAt = tierEnd;
        }

        return hopAt - Lookahead;
    }
}
