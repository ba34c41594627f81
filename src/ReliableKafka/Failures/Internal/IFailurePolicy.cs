using Confluent.Kafka;
using ReliableKafka.Consuming.Internal;

namespace ReliableKafka.Failures.Internal;

/// <summary>A record that failed for good: its handler's attempts are spent, or it cannot be deserialized.</summary>
/// <param name="State">Its partition (the assignment it was taken in).</param>
/// <param name="Record">The record.</param>
/// <param name="Error">Why it failed.</param>
/// <param name="Attempts">How many attempts its handler had (0 when it could not be deserialized).</param>
internal readonly record struct FailedRecord(PartitionState State, ConsumeResult<byte[]?, byte[]?> Record, Exception Error, int Attempts);

/// <summary>
/// What happens to a record that failed for good (<see cref="FailurePolicy"/>): one implementation per policy, run on
/// the record's lane. A policy finishes the record (its offset becomes committable) only when it let the record go;
/// otherwise the record stays unfinished and nothing at or past it is committed.
/// </summary>
internal interface IFailurePolicy
{
    /// <summary>Gets how many failed records wait for the policy to be able to let them go (a dead-letter write that keeps failing).</summary>
    int RecordsWaiting => 0;

    /// <summary>Applies the policy; <paramref name="cancellationToken"/> fires when the record's work is abandoned.</summary>
    Task ApplyAsync(FailedRecord failed, CancellationToken cancellationToken);
}
