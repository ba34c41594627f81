using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Failures.Internal.Retry;

/// <summary>
/// The keys parked on one partition (<see cref="KeyOrderOnFailure.Park"/>): for each, the offset of the last record of
/// the key this partition sent to a retry topic and when the record it waits for may be handled again. A key is
/// released only by a record at or beyond its last offset (<see cref="Release"/>): until that one was handled or
/// dead-lettered, later records of the key follow it (or, once an earlier one is done, wait briefly for the release).
/// Kept in the partition's commit metadata, so its next owner parks the same keys.
/// Any thread (lanes park and follow, the parking reader releases, the poll thread encodes).
/// </summary>
internal sealed class ParkedKeys
{
    /// <summary>The prefix of the parked keys' part of the commit metadata.</summary>
    public const string MetadataSeparator = ";p=";

    private const byte Version = 1;
    private static readonly long MaxUnixMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    private readonly object _gate = new();
    private readonly Dictionary<ulong, Entry> _keys = [];
    private int _count;
    private int _metadataKeys = int.MaxValue;
    private int _metadataKeysFit = int.MaxValue;
    private long _pinnedAt = -1;

    /// <summary>Gets how many keys are parked.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Gets how many records followed parked keys into the retry topics since those keys were parked (this owner's count).</summary>
    public int Behind
    {
        get
        {
            lock (_gate)
            {
                return _keys.Values.Sum(e => e.Behind);
            }
        }
    }

    /// <summary>
    /// The hash a key parks under: the same in every process (the first 8 bytes of its SHA-256); a record without a key
    /// (and every record of a partition that parks as a whole) parks under 0. Two keys of the same hash park together,
    /// which keeps order and only slows the other one.
    /// </summary>
    public static ulong HashOf(byte[]? key) =>
        key is null ? 0 : BinaryPrimitives.ReadUInt64LittleEndian(SHA256.HashData(key));

    /// <summary>
    /// If the key is parked, counts <paramref name="offset"/> as its last record sent on and gives when the record it
    /// follows may be handled again (Unix ms): <see cref="FollowResult.Follow"/>. While the key drains (a release of one of
    /// its earlier records came, so the rest follow soon), <see cref="FollowResult.Wait"/> and <paramref name="released"/>
    /// completes when the key is released: a record that waits briefly instead of following lets a key that keeps
    /// getting records be released. <see cref="FollowResult.NotParked"/> when it is not parked.
    /// </summary>
    public FollowResult TryFollow(ulong hash, long offset, out long notBeforeMs, out Task released)
    {
        notBeforeMs = 0;
        released = Task.CompletedTask;
        if (Count == 0)
        {
            return FollowResult.NotParked;
        }

        lock (_gate)
        {
            if (!_keys.TryGetValue(hash, out var entry))
            {
                return FollowResult.NotParked;
            }

            if (entry.Draining)
            {
                entry.Released ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                released = entry.Released.Task;
                return FollowResult.Wait;
            }

            notBeforeMs = entry.NotBeforeMs;
            entry.LastOffset = Math.Max(entry.LastOffset, offset);
            entry.Behind++;
            return FollowResult.Follow;
        }
    }

    /// <summary>Makes a draining key's records follow again (its release did not come in time).</summary>
    public void StopDraining(ulong hash)
    {
        lock (_gate)
        {
            if (_keys.TryGetValue(hash, out var entry))
            {
                entry.Draining = false;
            }
        }
    }

    /// <summary>
    /// Parks a key for a record sent to a retry topic (at <paramref name="offset"/>); a key parked already keeps its time and
    /// its place. Returns false when the key is new and is one more than the commit metadata holds
    /// (<see cref="MetadataKeys"/>): it is parked all the same, and the partition's commits stay at or below it
    /// (<see cref="PinnedAt"/>) until enough keys are released.
    /// </summary>
    public bool Park(ulong hash, long offset, long notBeforeMs)
    {
        lock (_gate)
        {
            if (_keys.TryGetValue(hash, out var entry))
            {
                entry.LastOffset = Math.Max(entry.LastOffset, offset);
                entry.Draining = false;
                return true;
            }

            _keys[hash] = new Entry { LastOffset = offset, NotBeforeMs = notBeforeMs, PinAt = offset };
            Changed();
            return _keys.Count <= _metadataKeys;
        }
    }

    /// <summary>
    /// Releases the key if <paramref name="offset"/> is at or beyond its last record sent on (a later one keeps it parked):
    /// the records of a key leave a partition, and go through the retry topics, in offset order, so once that record is
    /// handled or dead-lettered, all before it are. Returns whether it did.
    /// </summary>
    public bool Release(ulong hash, long offset)
    {
        if (Count == 0)
        {
            return false;
        }

        lock (_gate)
        {
            if (!_keys.TryGetValue(hash, out var entry))
            {
                return false;
            }

            if (entry.LastOffset > offset)
            {
                // An earlier record of the key (sent on since it parked, not a release of an older episode read again) is
                // done: the rest are on their way and, unless one fails again, due.
                entry.Draining |= offset >= entry.PinAt;
                return false;
            }

            _keys.Remove(hash);
            entry.Released?.TrySetResult();
            Changed();
            return true;
        }
    }

    /// <summary>Gets the parked keys and their last offsets (a snapshot).</summary>
    public List<(ulong Hash, long LastOffset)> Snapshot()
    {
        lock (_gate)
        {
            return [.. _keys.Select(k => (k.Key, k.Value.LastOffset))];
        }
    }

    /// <summary>
    /// Parks the keys read from a previous owner's commit metadata, committed with <paramref name="committed"/>. The records
    /// that parked them lie before that offset, so nobody would park them again: they always go into this owner's metadata.
    /// </summary>
    public void Restore(IEnumerable<(ulong Hash, long LastOffset, long NotBeforeMs)> keys, long committed)
    {
        lock (_gate)
        {
            foreach (var (hash, offset, notBefore) in keys)
            {
                if (_keys.TryGetValue(hash, out var entry))
                {
                    entry.LastOffset = Math.Max(entry.LastOffset, offset);
                    entry.Restored = true;
                }
                else
                {
                    _keys[hash] = new Entry { LastOffset = offset, NotBeforeMs = notBefore, PinAt = committed, Restored = true };
                }
            }

            Changed();
        }
    }

    /// <summary>
    /// Gets or sets how many parked keys of this owner the commit metadata holds (<see cref="RetryTopicOptions.MaxParkedKeysPerPartition"/>):
    /// the oldest ones; keys restored from the previous owner go in beyond it. Any thread.
    /// </summary>
    public int MetadataKeys
    {
        get => Volatile.Read(ref _metadataKeys);
        set
        {
            lock (_gate)
            {
                if (_metadataKeys != value)
                {
                    _metadataKeys = value;
                    Changed();
                }
            }
        }
    }

    /// <summary>
    /// Gets or sets how many parked keys fit in the metadata the brokers accept (after a refusal): no more go in, restored
    /// ones included; those left out pin the commit (a restored key at the offset committed when it was restored).
    /// </summary>
    public int MetadataKeysFit
    {
        get => Volatile.Read(ref _metadataKeysFit);
        set
        {
            lock (_gate)
            {
                _metadataKeysFit = value;
            }
        }
    }

    /// <summary>
    /// Gets the offset the partition's commits may not pass while more keys are parked than its commit metadata holds
    /// (the offset of the oldest record that parked one of the keys left out), or null, as of the last <see cref="Encode"/>
    /// (the commit itself uses the value computed with it). A commit there makes the next owner handle those records
    /// again, so that it parks those keys again.
    /// </summary>
    public long? PinnedAt => Volatile.Read(ref _pinnedAt) is var pin and >= 0 ? pin : null;

    /// <summary>
    /// Encodes the parked keys for the commit metadata (base64 of: version, count, then hash, last offset and not-before time
    /// per key): every key restored from the previous owner's metadata, then this owner's oldest ones, up to
    /// <see cref="MetadataKeys"/>. Also gives, from the same moment, the offset the commit may not pass: the oldest record
    /// that parked one of the keys left out (<see cref="PinnedAt"/>), or null. Text null when no key is parked.
    /// </summary>
    public (string? Text, long? Pin) Encode()
    {
        if (Count == 0)
        {
            Volatile.Write(ref _pinnedAt, -1);
            return (null, null);
        }

        var writer = new ArrayBufferWriter<byte>();
        lock (_gate)
        {
            var ordered = _keys.OrderBy(k => k.Value.Restored ? 0 : 1).ThenBy(k => k.Value.PinAt).ThenBy(k => k.Key).ToList();
            var restored = ordered.Count(k => k.Value.Restored);
            var kept = Math.Min(Math.Min(ordered.Count, Math.Max(_metadataKeys, restored)), _metadataKeysFit);
            var pin = kept < ordered.Count ? ordered.Skip(kept).Min(k => k.Value.PinAt) : -1;
            Volatile.Write(ref _pinnedAt, pin);
            if (kept == 0)
            {
                return (null, pin >= 0 ? pin : null);
            }

            writer.Write([Version]);
            OffsetGapCodec.WriteVarint(writer, (ulong)kept);
            foreach (var (hash, entry) in ordered.Take(kept))
            {
                BinaryPrimitives.WriteUInt64LittleEndian(writer.GetSpan(8), hash);
                writer.Advance(8);
                OffsetGapCodec.WriteVarint(writer, (ulong)entry.LastOffset);
                OffsetGapCodec.WriteVarint(writer, (ulong)Math.Max(0, entry.NotBeforeMs));
            }

            return (Convert.ToBase64String(writer.WrittenSpan), pin >= 0 ? pin : null);
        }
    }

    /// <summary>Decodes what <see cref="Encode"/> wrote; false for anything else.</summary>
    public static bool TryDecode(string text, out List<(ulong Hash, long LastOffset, long NotBeforeMs)> keys)
    {
        keys = [];
        byte[] payload;
        try
        {
            payload = Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            return false;
        }

        var reader = new OffsetGapCodec.Reader(payload);
        if (!reader.TryByte(out var version) || version != Version || !reader.TryVarint(out var count) || count > 10_000)
        {
            return false;
        }

        for (var i = 0UL; i < count; i++)
        {
            // A not-before time beyond what a DateTimeOffset holds is damaged: refused, like the rest.
            if (!reader.TryBytes(8, out var hashBytes) || !reader.TryVarint(out var offset) || offset > long.MaxValue
                || !reader.TryVarint(out var notBefore) || notBefore > (ulong)MaxUnixMs)
            {
                return false;
            }

            keys.Add((BinaryPrimitives.ReadUInt64LittleEndian(hashBytes), (long)offset, (long)notBefore));
        }

        return reader.AtEnd;
    }

    /// <summary>Updates the count after a change (the pin is recomputed by the next <see cref="Encode"/>). Under the lock.</summary>
    private void Changed()
    {
        _count = _keys.Count;
        if (_keys.Count <= _metadataKeys)
        {
            Volatile.Write(ref _pinnedAt, -1);
        }
    }

    /// <summary>A parked key (mutable; under the lock).</summary>
    private sealed class Entry
    {
        /// <summary>Gets or sets the offset of the last record of the key sent on from this partition.</summary>
        public long LastOffset { get; set; }

        /// <summary>Gets or sets when the record the key waits for may be handled again (Unix ms).</summary>
        public long NotBeforeMs { get; set; }

        /// <summary>Gets or sets how many records followed the key since it parked (this owner's count).</summary>
        public int Behind { get; set; }

        /// <summary>Gets or sets where the partition's commits stay while the key is left out of the commit metadata: the record that parked it.</summary>
        public long PinAt { get; set; }

        /// <summary>Gets or sets a value indicating whether the key came from the previous owner's metadata (it always goes back into it).</summary>
        public bool Restored { get; set; }

        /// <summary>Gets or sets a value indicating whether a release of an earlier record of the key came: new records wait briefly rather than follow.</summary>
        public bool Draining { get; set; }

        /// <summary>Gets or sets what completes when the key is released (for records that wait while it drains).</summary>
        public TaskCompletionSource? Released { get; set; }
    }
}

/// <summary>What <see cref="ParkedKeys.TryFollow"/> says a record of a key does.</summary>
internal enum FollowResult
{
    /// <summary>Its key is not parked: it is handled here.</summary>
    NotParked,

    /// <summary>It follows its key into the retry topic.</summary>
    Follow,

    /// <summary>Its key is about to be released: it waits for that.</summary>
    Wait,
}
