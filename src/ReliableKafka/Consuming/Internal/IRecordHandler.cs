using Confluent.Kafka;

namespace ReliableKafka.Consuming.Internal;

/// <summary>What the engine runs for each raw record: deserialization once, then the user's handler once per attempt.</summary>
internal interface IRecordHandler
{
    /// <summary>
    /// Gets a value indicating whether a deserializer is asynchronous (a Schema Registry's, say): its failures may be
    /// passing (the registry unreachable), so they are retried like handler failures; a synchronous deserializer's
    /// failure is final (poison).
    /// </summary>
    bool DeserializesAsynchronously { get; }

    /// <summary>Deserializes a record for its attempts; throws <see cref="MessageDeserializationException"/> for bytes it cannot read.</summary>
    ValueTask<object> PrepareAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken);

    /// <summary>The message id the consumer's selector picks for a prepared record, or null (no selector, or it declined).</summary>
    string? SelectMessageId(object prepared);

    /// <summary>
    /// Runs one attempt (1-based) for a prepared record; completing normally means it finished, throwing means the
    /// attempt failed. With <paramref name="transaction"/>, the handler runs inside the transaction it begins in the
    /// handler's scope, which is completed (committed with the completion record) before the scope ends; its
    /// failures, and a completion that finds the claim lost, throw <see cref="Deduplication.Internal.DeduplicationRetryException"/>.
    /// </summary>
    Task HandleAsync(object prepared, int attempt, Func<IServiceProvider, ValueTask<Deduplication.IDeduplicationTransaction>>? transaction, CancellationToken cancellationToken);
}
