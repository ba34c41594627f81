using Confluent.Kafka;
using ReliableKafka.Consuming.Internal;

namespace ReliableKafka.Failures.Internal.Retry;

/// <summary>
/// Holds a retry topic's record until it may be handled again (<see cref="ReliableKafkaHeaders.RetryNotBefore"/>). Every
/// record of a retry topic waits the same backoff, so its partitions are in due order and waiting on the head is enough.
/// A record of a source topic is taken at once.
/// </summary>
internal sealed class RetryGate(RetryLevels levels) : IRecordGate
{
    private static readonly long MaxUnixMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    /// <summary>
    /// Gets when the record may be handled: its not-before time, never later than its backoff after it was written (its
    /// timestamp), so that a damaged header cannot hold the partition longer than the backoff.
    /// </summary>
    public DateTimeOffset? NotBefore(ConsumeResult<byte[]?, byte[]?> record)
    {
        var (_, level) = levels.Locate(record.Topic);
        if (level == 0 || RetryHeaders.ReadNotBefore(record.Message.Headers) is not { } notBefore)
        {
            return null;
        }

        var backoff = (long)levels.Backoffs[level - 1].TotalMilliseconds;
        var written = record.Message.Timestamp.UnixTimestampMs;
        if (record.Message.Timestamp.Type != TimestampType.NotAvailable && written >= 0 && written < MaxUnixMs - backoff
            && DateTimeOffset.FromUnixTimeMilliseconds(written + backoff) is var latest && latest < notBefore)
        {
            return latest;
        }

        return notBefore;
    }
}
