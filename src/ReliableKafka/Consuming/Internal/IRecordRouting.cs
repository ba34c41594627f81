using Confluent.Kafka;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// What a failure policy that moves records elsewhere (<see cref="FailurePolicy.RetryTopic"/>) does around a record's
/// handling on its lane: it may send the record on before it is handled (its key is parked: it follows an earlier record
/// of its key), and it has to tell others once a record it moved is done.
/// </summary>
internal interface IRecordRouting
{
    /// <summary>
    /// Before a record is handled: if its key is parked on its partition, sends it on behind the record its key waits for
    /// and finishes it (true; also true, leaving it unfinished, when its partition stops while it waits for its key's
    /// release); false when it is to be handled here. Throws only when the record's work is abandoned.
    /// </summary>
    ValueTask<bool> TryFollowAsync(PartitionState state, ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken);

    /// <summary>
    /// After a record was handled (or found processed before), before it finishes: releases the keys parked on its account.
    /// Throws only when the record's work is abandoned.
    /// </summary>
    ValueTask HandledAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken);

    /// <summary>
    /// After a record's attempts failed: how long to wait before its attempts start over in place (its key waits, other
    /// keys go on), or null for its failure policy to apply. <paramref name="retriedInPlace"/> counts the times so far.
    /// </summary>
    TimeSpan? RetryInPlaceAfter(ConsumeResult<byte[]?, byte[]?> record, Exception error, int retriedInPlace);
}
