namespace ReliableKafka.Deduplication;

/// <summary>
/// Remembers which messages a consumer group processed, so that a redelivered or resent message is not handled
/// twice. The consumer runs this protocol for each record: <see cref="ClaimAsync"/> with a lease; if
/// <see cref="ClaimStatus.Claimed"/>, the handler, then <see cref="CompleteAsync"/> when it succeeded or
/// <see cref="ReleaseAsync"/> when it failed (so that a retry, another member or the failure policy can take it).
/// </summary>
/// <remarks>
/// Every method is atomic and safe to call concurrently, from several processes when the store is shared.
/// A store reports an outage by throwing: the consumer then treats the record as not finished, waits and tries
/// again, and reports the outage in its health. Implementations ship in this package (<see cref="InMemoryDeduplicationStore"/>),
/// ReliableKafka.Sqlite and ReliableKafka.PostgreSql.
/// </remarks>
public interface IDeduplicationStore
{
    /// <summary>
    /// Claims a message for <paramref name="owner"/> for <paramref name="lease"/>. Succeeds when the message is
    /// unknown, when its last lease expired without completion, or when <paramref name="owner"/> already holds it.
    /// </summary>
    /// <param name="key">The message.</param>
    /// <param name="owner">Identifies this processing of the message (the consumer uses a new value for each attempt).</param>
    /// <param name="lease">How long the claim holds if it is neither completed nor released (a crashed owner's claim expires).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Whether the caller holds the claim now, the message was processed before, or another owner holds it.</returns>
    ValueTask<ClaimResult> ClaimAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records that <paramref name="owner"/> processed the message. Idempotent: completing again succeeds.
    /// </summary>
    /// <param name="key">The message.</param>
    /// <param name="owner">The owner that claimed it.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>
    /// <see langword="true"/> when the completion is recorded; <see langword="false"/> when the owner no longer held the
    /// claim (its lease expired and another owner claimed the message, which may then have processed it too).
    /// </returns>
    ValueTask<bool> CompleteAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default);

    /// <summary>
    /// Extends the lease of a claim that <paramref name="owner"/> holds and has not completed, while its handler runs.
    /// Never creates a claim and never takes one over: a renewal that arrives after the claim was released, completed,
    /// purged or taken over by another owner changes nothing.
    /// </summary>
    /// <param name="key">The message.</param>
    /// <param name="owner">The owner that claimed it.</param>
    /// <param name="lease">The new lease, from now.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>
    /// <see langword="true"/> when the lease was extended; <see langword="false"/> when <paramref name="owner"/> holds no
    /// open claim on the message (any more).
    /// </returns>
    ValueTask<bool> RenewAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default);

    /// <summary>Gives up the claim of <paramref name="owner"/> on a message that is not completed, so that it can be claimed at once; does nothing otherwise.</summary>
    /// <param name="key">The message.</param>
    /// <param name="owner">The owner that claimed it.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the claim is released.</returns>
    ValueTask ReleaseAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default);

    /// <summary>Removes completed messages older than the store's retention, and claims whose lease expired that long ago.</summary>
    /// <param name="cancellationToken">Cancels the purge.</param>
    /// <returns>How many entries were removed.</returns>
    ValueTask<long> PurgeAsync(CancellationToken cancellationToken = default);
}
