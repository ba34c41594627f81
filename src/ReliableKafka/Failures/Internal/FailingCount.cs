namespace ReliableKafka.Failures.Internal;

/// <summary>
/// How many operations are failing and being tried again (for the health check): each counts once, from its first
/// failure until it succeeds or is given up. Any thread.
/// </summary>
internal sealed class FailingCount
{
    private int _count;

    /// <summary>Gets how many operations are failing now.</summary>
    public int Value => Volatile.Read(ref _count);

    /// <summary>
    /// Runs <paramref name="action"/> until it works, after growing pauses with jitter (<see cref="Backoffs"/>), counted
    /// here while it fails; <paramref name="onRetry"/> reports each failure and the pause before the next try. Throws only
    /// when <paramref name="cancellationToken"/> fires.
    /// </summary>
    public async Task UntilItWorksAsync(
        Func<CancellationToken, ValueTask> action, TimeSpan first, TimeSpan max, TimeProvider time, Action<Exception, TimeSpan> onRetry, CancellationToken cancellationToken)
    {
        var failing = false;
        var retries = Backoffs.UntilItWorks(first, max, time, static _ => true, (e, pause) =>
        {
            if (!failing)
            {
                failing = true;
                Interlocked.Increment(ref _count);
            }

            onRetry(e, pause);
        });
        try
        {
            await retries.ExecuteAsync(action, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (failing)
            {
                Interlocked.Decrement(ref _count);
            }
        }
    }
}
