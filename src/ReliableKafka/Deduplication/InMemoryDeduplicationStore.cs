using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ReliableKafka.Deduplication;

/// <summary>
/// A deduplication store in process memory, bounded by <see cref="InMemoryDeduplicationOptions.MaxEntries"/> and
/// <see cref="DeduplicationStoreOptions.Retention"/>: for a single instance and for tests. It forgets everything
/// when the process ends, so it catches redeliveries within the process (rebalances among its own consumers,
/// retries, a producer's resend) but not those after a restart: use ReliableKafka.Sqlite or ReliableKafka.PostgreSql
/// for that.
/// </summary>
/// <remarks>
/// Entries live in up to 64 shards (one per 1024 of <see cref="InMemoryDeduplicationOptions.MaxEntries"/>), each a
/// dictionary under its own lock with the entries inline, so that a call touches little memory: with a large table,
/// memory latency, not computation, is what a lookup costs. Each shard forgets its oldest completed ids first when
/// it holds more than its share of <see cref="InMemoryDeduplicationOptions.MaxEntries"/>, so the oldest go first
/// overall too, up to the spread of ids over shards.
/// </remarks>
public sealed class InMemoryDeduplicationStore : IDeduplicationStore
{
    private const int MaxShards = 64;
    private const int MinCompletedPerShard = 1024;
    private readonly Shard[] _shards;
    private readonly InMemoryDeduplicationOptions _options;
    private readonly TimeProvider _time;
    private readonly int _completedPerShard;

    /// <summary>Initializes a new instance of the <see cref="InMemoryDeduplicationStore"/> class.</summary>
    /// <param name="options">The store's bounds; <see langword="null"/> for the defaults.</param>
    /// <param name="time">The clock for leases and retention; <see langword="null"/> for the system clock.</param>
    public InMemoryDeduplicationStore(InMemoryDeduplicationOptions? options = null, TimeProvider? time = null)
    {
        _options = options ?? new InMemoryDeduplicationOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxEntries, 1, nameof(options));
        _time = time ?? TimeProvider.System;
        // A power of two, and few enough that each shard's share stays large: small tables forget in exact order.
        var shards = (int)Math.Min(MaxShards, Math.Max(1, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)(_options.MaxEntries / MinCompletedPerShard + 1)) / 2));
        _completedPerShard = Math.Max(1, _options.MaxEntries / shards);
        _shards = [.. Enumerable.Range(0, shards).Select(_ => new Shard())];
    }

    /// <summary>Gets how many messages the store holds (claimed or completed).</summary>
    public int Count => _shards.Sum(s =>
    {
        lock (s)
        {
            return s.Entries.Count;
        }
    });

    /// <inheritdoc/>
    public ValueTask<ClaimResult> ClaimAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = _time.GetUtcNow().UtcTicks;
        var expires = now + lease.Ticks;
        var hashed = new HashedKey(key);
        var shard = ShardOf(hashed);
        lock (shard)
        {
            ref var entry = ref CollectionsMarshal.GetValueRefOrAddDefault(shard.Entries, hashed, out var exists);
            if (!exists || (entry.CompletedAt == 0 && (entry.Owner == owner || entry.LeaseExpires <= now)))
            {
                entry = new Entry(owner, expires, CompletedAt: 0);
                return ValueTask.FromResult(ClaimResult.Claimed);
            }

            return ValueTask.FromResult(entry.CompletedAt != 0
                ? ClaimResult.AlreadyProcessed
                : new ClaimResult(ClaimStatus.InProgressElsewhere, new DateTimeOffset(entry.LeaseExpires, TimeSpan.Zero)));
        }
    }

    /// <inheritdoc/>
    public ValueTask<bool> CompleteAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var hashed = new HashedKey(key);
        var shard = ShardOf(hashed);
        lock (shard)
        {
            ref var entry = ref CollectionsMarshal.GetValueRefOrNullRef(shard.Entries, hashed);
            if (Unsafe.IsNullRef(ref entry) || entry.Owner != owner)
            {
                return ValueTask.FromResult(false);
            }

            if (entry.CompletedAt == 0)
            {
                var now = _time.GetUtcNow().UtcTicks;
                entry = entry with { CompletedAt = now };
                shard.Completed.Enqueue((hashed, now));
                while (shard.Completed.Count > _completedPerShard)
                {
                    Forget(shard, shard.Completed.Dequeue());
                }
            }

            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc/>
    public ValueTask<bool> RenewAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var hashed = new HashedKey(key);
        var shard = ShardOf(hashed);
        lock (shard)
        {
            ref var entry = ref CollectionsMarshal.GetValueRefOrNullRef(shard.Entries, hashed);
            if (Unsafe.IsNullRef(ref entry) || entry.Owner != owner || entry.CompletedAt != 0)
            {
                return ValueTask.FromResult(false);
            }

            entry = entry with { LeaseExpires = _time.GetUtcNow().UtcTicks + lease.Ticks };
            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc/>
    public ValueTask ReleaseAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var hashed = new HashedKey(key);
        var shard = ShardOf(hashed);
        lock (shard)
        {
            if (shard.Entries.TryGetValue(hashed, out var entry) && entry.CompletedAt == 0 && entry.Owner == owner)
            {
                shard.Entries.Remove(hashed);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask<long> PurgeAsync(CancellationToken cancellationToken = default)
    {
        var cutoff = (_time.GetUtcNow() - _options.Retention).UtcTicks;
        long removed = 0;
        foreach (var shard in _shards)
        {
            cancellationToken.ThrowIfCancellationRequested();
            lock (shard)
            {
                var before = shard.Entries.Count;
                while (shard.Completed.TryPeek(out var oldest) && oldest.CompletedAt < cutoff)
                {
                    Forget(shard, shard.Completed.Dequeue());
                }

                // Claims abandoned long ago (their owner crashed and nobody redelivered the record).
                foreach (var (key, entry) in shard.Entries)
                {
                    if (entry.CompletedAt == 0 && entry.LeaseExpires < cutoff)
                    {
                        shard.Entries.Remove(key);
                    }
                }

                removed += before - shard.Entries.Count;
            }
        }

        return ValueTask.FromResult(removed);
    }

    /// <summary>Removes a completed id, unless it was forgotten and claimed anew since.</summary>
    private static void Forget(Shard shard, (HashedKey Key, long CompletedAt) completed)
    {
        ref var entry = ref CollectionsMarshal.GetValueRefOrNullRef(shard.Entries, completed.Key);
        if (!Unsafe.IsNullRef(ref entry) && entry.CompletedAt == completed.CompletedAt)
        {
            shard.Entries.Remove(completed.Key);
        }
    }

    private Shard ShardOf(HashedKey key) => _shards[key.Hash & (_shards.Length - 1)];

    /// <summary>A key with its hash computed once (of the message id only: a consumer's scope is one string, compared by reference first).</summary>
    private readonly struct HashedKey(DeduplicationKey key) : IEquatable<HashedKey>
    {
        public DeduplicationKey Key { get; } = key;

        public int Hash { get; } = key.MessageId.GetHashCode(StringComparison.Ordinal);

        public bool Equals(HashedKey other) =>
            Hash == other.Hash
            && string.Equals(Key.MessageId, other.Key.MessageId, StringComparison.Ordinal)
            && string.Equals(Key.Scope, other.Key.Scope, StringComparison.Ordinal);

        public override bool Equals(object? obj) => obj is HashedKey other && Equals(other);

        public override int GetHashCode() => Hash;
    }

    /// <summary>A message's state: who holds it until when, and when it was completed (UTC ticks; 0 while not).</summary>
    private readonly record struct Entry(Guid Owner, long LeaseExpires, long CompletedAt);

    private sealed class Shard
    {
        public Dictionary<HashedKey, Entry> Entries { get; } = [];

        public Queue<(HashedKey Key, long CompletedAt)> Completed { get; } = new();
    }
}
