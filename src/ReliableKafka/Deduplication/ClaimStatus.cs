namespace ReliableKafka.Deduplication;

/// <summary>The outcome of <see cref="IDeduplicationStore.ClaimAsync"/>.</summary>
public enum ClaimStatus
{
    /// <summary>The caller holds the lease: it runs the handler, then completes or releases the claim.</summary>
    Claimed = 0,

    /// <summary>The message was processed before (completed, within the store's retention): skip it.</summary>
    AlreadyProcessed = 1,

    /// <summary>Another owner holds a lease that has not expired (for example a member that lost the partition in a rebalance and is still running its handler): wait and claim again.</summary>
    InProgressElsewhere = 2,
}
