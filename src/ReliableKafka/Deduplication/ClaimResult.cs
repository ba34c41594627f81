namespace ReliableKafka.Deduplication;

/// <summary>The answer of <see cref="IDeduplicationStore.ClaimAsync"/>.</summary>
/// <param name="Status">Whether the caller got the lease, the message was done before, or someone else holds it.</param>
/// <param name="LeaseExpiresAt">
/// For <see cref="ClaimStatus.InProgressElsewhere"/>, when the other owner's lease expires (by the store's clock),
/// if the store knows; otherwise <see langword="null"/>.
/// </param>
public readonly record struct ClaimResult(ClaimStatus Status, DateTimeOffset? LeaseExpiresAt = null)
{
    /// <summary>Gets the result for a claim that succeeded.</summary>
    public static ClaimResult Claimed { get; } = new(ClaimStatus.Claimed);

    /// <summary>Gets the result for a message that was processed before.</summary>
    public static ClaimResult AlreadyProcessed { get; } = new(ClaimStatus.AlreadyProcessed);
}
