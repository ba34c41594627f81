using System.Globalization;
using Confluent.Kafka;

namespace ReliableKafka.Failures.Internal.Retry;

/// <summary>Where a record was first consumed (a copy in a retry topic carries its source record's origin).</summary>
internal sealed record RecordOrigin(string Topic, int Partition, long Offset, long TimestampMs)
{
    public static RecordOrigin Of(ConsumeResult<byte[]?, byte[]?> record) =>
        new(record.Topic, record.Partition.Value, record.Offset.Value, record.Message.Timestamp.UnixTimestampMs);

    /// <summary>
    /// Identifies the record in the log, <c>topic/partition@offset/timestamp</c> (see
    /// <see cref="Deduplication.Internal.Deduplicator.DeliveryOf"/>): its copies in the retry topics share it.
    /// </summary>
    public string Delivery => string.Create(CultureInfo.InvariantCulture, $"{Topic}/{Partition}@{Offset}/{TimestampMs}");
}
