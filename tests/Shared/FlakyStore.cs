using ReliableKafka.Deduplication;

namespace ReliableKafka.TestSupport;

/// <summary>A store that can be down (every call but purging throws) or fail a number of completions, around another store.</summary>
internal sealed class FlakyStore(IDeduplicationStore inner) : IDeduplicationStore
{
    private int _failCompletions;
    private int _failReleases;
    private int _calls;

    public bool Down { get; set; }

    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Gets or sets how many of the next releases fail (after they may or may not have happened: here, not).</summary>
    public int FailReleases
    {
        get => Volatile.Read(ref _failReleases);
        set => Volatile.Write(ref _failReleases, value);
    }

    public int FailCompletions
    {
        get => Volatile.Read(ref _failCompletions);
        set => Volatile.Write(ref _failCompletions, value);
    }

    public ValueTask<ClaimResult> ClaimAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        Call();
        return inner.ClaimAsync(key, owner, lease, cancellationToken);
    }

    public ValueTask<bool> CompleteAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default)
    {
        Call();
        if (Interlocked.Decrement(ref _failCompletions) >= 0)
        {
            throw new TimeoutException("completion timed out (injected)");
        }

        return inner.CompleteAsync(key, owner, cancellationToken);
    }

    public ValueTask<bool> RenewAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        Call();
        return inner.RenewAsync(key, owner, lease, cancellationToken);
    }

    public ValueTask ReleaseAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default)
    {
        Call();
        if (Interlocked.Decrement(ref _failReleases) >= 0)
        {
            throw new TimeoutException("release timed out (injected)");
        }

        return inner.ReleaseAsync(key, owner, cancellationToken);
    }

    public ValueTask<long> PurgeAsync(CancellationToken cancellationToken = default) => inner.PurgeAsync(cancellationToken);

    private void Call()
    {
        Interlocked.Increment(ref _calls);
        if (Down)
        {
            throw new InvalidOperationException("store unavailable (injected)");
        }
    }
}
