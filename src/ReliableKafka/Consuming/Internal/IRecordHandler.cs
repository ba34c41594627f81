using Confluent.Kafka;

namespace ReliableKafka.Consuming.Internal;

/// <summary>What the engine runs for each raw record: deserialization once, then the user's handler once per attempt.</summary>
internal interface IRecordHandler
{
    /// <summary>Deserializes a record for its attempts; throws <see cref="MessageDeserializationException"/> for bytes it cannot read.</summary>
    object Prepare(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken);

    /// <summary>Runs one attempt (1-based) for a prepared record; completing normally means it finished, throwing means the attempt failed.</summary>
    Task HandleAsync(object prepared, int attempt, CancellationToken cancellationToken);
}
