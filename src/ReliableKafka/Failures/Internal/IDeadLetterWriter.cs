using Confluent.Kafka;

namespace ReliableKafka.Failures.Internal;

/// <summary>Writes failed records to their dead-letter topic (and, for retry topics, to those and the parking topic).</summary>
internal interface IDeadLetterWriter : IDisposable
{
    /// <summary>
    /// Writes the record's original key, value and headers, plus diagnostic headers, and completes when the write
    /// is acknowledged (acks=all); throws when it failed (it may be tried again).
    /// </summary>
    Task<TopicPartitionOffset> WriteAsync(ConsumeResult<byte[]?, byte[]?> record, Exception error, int attempts, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the dead-letter topic holds this record already, written for this consumer group (found by its
    /// original topic, partition, offset and timestamp): what a member asks before writing again when an earlier write
    /// of the record may have happened (a member crashed in the middle of it, or a write of its own failed).
    /// Reads the whole topic; called only on those failure paths.
    /// </summary>
    Task<bool> ContainsAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken);

    /// <summary>
    /// Writes a record with the same producer (acks=all) to another topic (a retry topic, the parking topic), to a given
    /// partition or, with <see cref="Partition.Any"/>, to the one its key maps to; completes when acknowledged.
    /// </summary>
    Task<TopicPartitionOffset> SendAsync(TopicPartition destination, Message<byte[]?, byte[]?> message, CancellationToken cancellationToken);

    /// <summary>Gets how many partitions a topic has (from the cluster's metadata, then cached); <paramref name="refresh"/> asks again.</summary>
    Task<int> PartitionCountAsync(string topic, bool refresh, CancellationToken cancellationToken);
}
