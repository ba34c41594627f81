namespace ReliableKafka.Deduplication.Internal;

/// <summary>Waiting for a claim that a <see cref="Batcher{TKey, TRequest, TResult}"/> runs on the caller's behalf.</summary>
internal static class BatchedClaim
{
    /// <summary>
    /// Waits for <paramref name="claim"/>. A caller that stops waiting (its work was abandoned) still gets its claim
    /// made by the batch; it is then released, so that the record's next owner need not wait for the lease to expire.
    /// </summary>
    public static async ValueTask<ClaimResult> WaitAsync(Task<ClaimResult> claim, Func<ValueTask> release, CancellationToken cancellationToken)
    {
        try
        {
            return await claim.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _ = ReleaseWhenClaimedAsync(claim, release);
            throw;
        }
    }

    private static async Task ReleaseWhenClaimedAsync(Task<ClaimResult> claim, Func<ValueTask> release)
    {
        try
        {
            if ((await claim.ConfigureAwait(false)).Status == ClaimStatus.Claimed)
            {
                await release().ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // Best effort: an unreleased claim expires with its lease.
        }
    }
}
