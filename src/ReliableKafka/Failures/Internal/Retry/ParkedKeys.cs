using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Failures.Internal.Retry;

/// <summary>
/// The keys parked on one partition (<see cref="KeyOrderOnFailure.Park"/>): for each, the offset of the last record of
/// the key this partition sent to a retry topic and when the record it waits for may be handled again. A key is
/// released only by the record at its last offset (<see cref="Release"/>): until that one was handled or dead-lettered,
/// later records of the key follow it. Kept in the partition's commit metadata, so its next owner parks the same keys.
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

    /// <summary>Whether the key is parked.</summary>
    public bool IsParked(ulong hash)
    {
        if (Count == 0)
        {
            return false;
        }

        lock (_gate)
        {
            return _keys.ContainsKey(hash);
        }
    }

    /// <summary>
    /// If the key is parked, counts <paramref name="offset"/> as its last record sent on and gives when the record it
    /// follows may be handled again (Unix ms); false when it is not parked.
    /// </summary>
    public bool TryFollow(ulong hash, long offset, out long notBeforeMs)
    {
        notBeforeMs = 0;
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

            notBeforeMs = entry.NotBeforeMs;
            _keys[hash] = entry with { LastOffset = Math.Max(entry.LastOffset, offset), Behind = entry.Behind + 1 };
            return true;
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
                _keys[hash] = entry with { LastOffset = Math.Max(entry.LastOffset, offset) };
                return true;
            }

            _keys[hash] = new Entry(offset, notBeforeMs, 0, PinAt: offset);
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
            if (!_keys.TryGetValue(hash, out var entry) || entry.LastOffset > offset)
            {
                return false;
            }

            _keys.Remove(hash);
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
    /// Parks the keys read from a previous owner's commit metadata, which was committed with <paramref name="committed"/>
    /// (were they ever left out of this owner's metadata, its commits would stay there).
    /// </summary>
    public void Restore(IEnumerable<(ulong Hash, long LastOffset, long NotBeforeMs)> keys, long committed)
    {
        lock (_gate)
        {
            foreach (var (hash, offset, notBefore) in keys)
            {
                _keys[hash] = _keys.TryGetValue(hash, out var entry)
                    ? entry with { LastOffset = Math.Max(entry.LastOffset, offset) }
                    : new Entry(offset, notBefore, 0, PinAt: committed);
            }

            Changed();
        }
    }

    /// <summary>
    /// Gets or sets how many parked keys the commit metadata holds (<see cref="RetryTopicOptions.MaxParkedKeysPerPartition"/>,
    /// less when the brokers refused longer metadata): the oldest ones. Any thread.
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
    /// Gets the offset the partition's commits may not pass while more keys are parked than its commit metadata holds
    /// (the offset of the oldest record that parked one of the keys left out), or null. A commit there makes the next owner
    /// handle those records again, so that it parks those keys again.
    /// </summary>
    public long? PinnedAt => Volatile.Read(ref _pinnedAt) is var pin and >= 0 ? pin : null;

    /// <summary>
    /// Encodes the <see cref="MetadataKeys"/> oldest parked keys for the commit metadata (base64 of: version, count, then
    /// hash, last offset and not-before time per key); null when none. The others pin the commits (<see cref="PinnedAt"/>).
    /// </summary>
    public string? Encode()
    {
        if (Count == 0)
        {
            return null;
        }

        var writer = new ArrayBufferWriter<byte>();
        lock (_gate)
        {
            if (_keys.Count == 0)
            {
                return null;
            }

            var kept = Oldest().Take(_metadataKeys).ToList();
            if (kept.Count == 0)
            {
                return null;
            }

            writer.Write([Version]);
            OffsetGapCodec.WriteVarint(writer, (ulong)kept.Count);
            foreach (var (hash, entry) in kept)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(writer.GetSpan(8), hash);
                writer.Advance(8);
                OffsetGapCodec.WriteVarint(writer, (ulong)entry.LastOffset);
                OffsetGapCodec.WriteVarint(writer, (ulong)Math.Max(0, entry.NotBeforeMs));
            }
        }

        return Convert.ToBase64String(writer.WrittenSpan);
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

    /// <summary>The parked keys, oldest first (by the record that parked them, then by hash for a stable order). Under the lock.</summary>
    private IEnumerable<KeyValuePair<ulong, Entry>> Oldest() => _keys.OrderBy(k => k.Value.PinAt).ThenBy(k => k.Key);

    /// <summary>Updates the count and the pin after a change. Under the lock.</summary>
    private void Changed()
    {
        _count = _keys.Count;
        var pin = _keys.Count <= _metadataKeys ? -1 : Oldest().Skip(_metadataKeys).Min(k => k.Value.PinAt);
        Volatile.Write(ref _pinnedAt, pin);
    }

    /// <param name="LastOffset">The offset of the last record of the key sent on from this partition.</param>
    /// <param name="NotBeforeMs">When the record the key waits for may be handled again (Unix ms).</param>
    /// <param name="Behind">How many records followed the key since it parked (this owner's count).</param>
    /// <param name="PinAt">Where the partition's commits stay while the key is left out of the commit metadata: the record that parked it.</param>
    private readonly record struct Entry(long LastOffset, long NotBeforeMs, int Behind, long PinAt);
}
