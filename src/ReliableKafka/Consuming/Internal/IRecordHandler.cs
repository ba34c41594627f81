using Confluent.Kafka;

namespace ReliableKafka.Consuming.Internal;

/// <summary>What the engine runs for each raw record: deserialization and the user's handler (later also dedup, retries and failure policies).</summary>
internal interface IRecordHandler
{
    /// <summary>Processes one record; completing normally means it finished, throwing means it failed.</summary>
    Task HandleAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken);
}
