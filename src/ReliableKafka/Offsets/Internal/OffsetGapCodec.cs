using System.Buffers;

namespace ReliableKafka.Offsets.Internal;

/// <summary>
/// Encodes which records beyond a partition's committed offset (the watermark) have finished, for the commit's
/// metadata string, so that after a crash or a rebalance the next owner skips them. Versioned ("rk1:"), base64,
/// and never longer than <see cref="MaxLength"/> (real brokers' default offset.metadata.max.bytes is 4096).
/// </summary>
/// <remarks>
/// Payload: version (1), the watermark (varint), then either a bitset (kind 0: bit count, then bit i set when
/// offset watermark + 1 + i finished) or run lengths (kind 1: run count, then alternating lengths of unfinished
/// and finished runs from watermark + 1, starting with unfinished), whichever is shorter. A bitset's size only
/// depends on the span, so keeping finished records within <see cref="MaxSpan"/> of the watermark keeps every
/// encoding under the bound.
/// </remarks>
internal static class OffsetGapCodec
{
    public const string Prefix = "rk1:";
    public const int MaxLength = 4096;

    /// <summary>How far beyond the watermark a finished record may lie so that the encoding fits <see cref="MaxLength"/>.</summary>
    public const long MaxSpan = 24_000;

    private const byte Version = 1;
    private const byte Bitset = 0;
    private const byte Runs = 1;
    private const long MaxDecodedSpan = 10_000_000;

    /// <summary>
    /// Encodes the finished offsets (each greater than <paramref name="watermark"/>, ascending, within
    /// <see cref="MaxSpan"/>); returns null when there are none.
    /// </summary>
    public static string? Encode(long watermark, IReadOnlyList<long> finished)
    {
        if (finished.Count == 0)
        {
            return null;
        }

        var span = finished[^1] - watermark;
        if (finished[0] <= watermark || span > MaxSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(finished), $"Finished offsets must lie in ({watermark}, {watermark + MaxSpan}].");
        }

        var bitset = EncodeBitset(watermark, finished, span);
        var runs = EncodeRuns(watermark, finished);
        var payload = runs.Length < bitset.Length ? runs : bitset;
        return Prefix + Convert.ToBase64String(payload);
    }

    /// <summary>
    /// Encodes as many of the finished offsets as fit in <paramref name="maxLength"/> characters, the lowest first;
    /// null when none fits (or none finished). Leaving finished offsets out is always safe: those records are handled
    /// again after a restart, nothing is skipped that did not finish.
    /// </summary>
    public static string? EncodeWithin(long watermark, IReadOnlyList<long> finished, int maxLength)
    {
        var all = Encode(watermark, finished);
        if (all is null || all.Length <= maxLength)
        {
            return all;
        }

        // The encoded length never shrinks as offsets are added (both encodings grow with the span or the runs), so
        // the longest prefix that fits is found by bisection.
        string? best = null;
        int low = 1, high = finished.Count - 1;
        while (low <= high)
        {
            var count = low + ((high - low) / 2);
            var encoded = Encode(watermark, Prefix(finished, count))!;
            if (encoded.Length <= maxLength)
            {
                best = encoded;
                low = count + 1;
            }
            else
            {
                high = count - 1;
            }
        }

        return best;

        static IReadOnlyList<long> Prefix(IReadOnlyList<long> offsets, int count) =>
            offsets is List<long> list ? list.GetRange(0, count) : [.. offsets.Take(count)];
    }

    /// <summary>Decodes metadata written by <see cref="Encode"/>; returns false (with the reason) for anything else.</summary>
    public static bool TryDecode(string? metadata, out long watermark, out long[] finished, out string? error)
    {
        watermark = 0;
        finished = [];
        error = null;
        if (string.IsNullOrEmpty(metadata))
        {
            error = "no metadata";
            return false;
        }

        if (!metadata.StartsWith(Prefix, StringComparison.Ordinal) || metadata.Length > MaxLength)
        {
            error = "not ReliableKafka's format";
            return false;
        }

        byte[] payload;
        try
        {
            payload = Convert.FromBase64String(metadata[Prefix.Length..]);
        }
        catch (FormatException)
        {
            error = "not valid base64";
            return false;
        }

        var reader = new Reader(payload);
        if (!reader.TryByte(out var version) || version != Version)
        {
            error = $"unknown version {version}";
            return false;
        }

        if (!reader.TryVarint(out var mark) || mark > long.MaxValue - MaxDecodedSpan || !reader.TryByte(out var kind))
        {
            error = "truncated header";
            return false;
        }

        watermark = (long)mark;
        var result = kind switch
        {
            Bitset => DecodeBitset(ref reader, watermark),
            Runs => DecodeRuns(ref reader, watermark),
            _ => null,
        };
        if (result is null || !reader.AtEnd)
        {
            error = kind is Bitset or Runs ? "corrupt body" : $"unknown encoding {kind}";
            return false;
        }

        finished = result;
        return true;
    }

    private static byte[] EncodeBitset(long watermark, IReadOnlyList<long> finished, long span)
    {
        var bits = new byte[(span + 7) / 8];
        foreach (var offset in finished)
        {
            var i = offset - watermark - 1;
            bits[i / 8] |= (byte)(1 << (int)(i % 8));
        }

        var writer = new ArrayBufferWriter<byte>(bits.Length + 24);
        WriteHeader(writer, watermark, Bitset);
        WriteVarint(writer, (ulong)span);
        writer.Write(bits);
        return writer.WrittenSpan.ToArray();
    }

    private static byte[] EncodeRuns(long watermark, IReadOnlyList<long> finished)
    {
        var lengths = new List<ulong>();
        var next = watermark + 1; // first offset not yet described
        var i = 0;
        while (i < finished.Count)
        {
            lengths.Add((ulong)(finished[i] - next)); // unfinished run (may be empty)
            var start = finished[i];
            while (i + 1 < finished.Count && finished[i + 1] == finished[i] + 1)
            {
                i++;
            }

            lengths.Add((ulong)(finished[i] - start + 1)); // finished run
            next = finished[i] + 1;
            i++;
        }

        var writer = new ArrayBufferWriter<byte>((lengths.Count * 2) + 24);
        WriteHeader(writer, watermark, Runs);
        WriteVarint(writer, (ulong)lengths.Count);
        foreach (var length in lengths)
        {
            WriteVarint(writer, length);
        }

        return writer.WrittenSpan.ToArray();
    }

    private static long[]? DecodeBitset(ref Reader reader, long watermark)
    {
        if (!reader.TryVarint(out var span) || span == 0 || span > MaxDecodedSpan || !reader.TryBytes((int)((span + 7) / 8), out var bits))
        {
            return null;
        }

        var result = new List<long>();
        for (var i = 0L; i < (long)span; i++)
        {
            if ((bits[(int)(i / 8)] & (1 << (int)(i % 8))) != 0)
            {
                result.Add(watermark + 1 + i);
            }
        }

        return result.Count == 0 ? null : [.. result];
    }

    private static long[]? DecodeRuns(ref Reader reader, long watermark)
    {
        if (!reader.TryVarint(out var count) || count == 0 || count % 2 != 0 || count > MaxDecodedSpan)
        {
            return null;
        }

        var result = new List<long>();
        var next = watermark + 1;
        for (var i = 0UL; i < count; i += 2)
        {
            if (!reader.TryVarint(out var skip) || !reader.TryVarint(out var run) || run == 0 ||
                skip > MaxDecodedSpan || run > MaxDecodedSpan || next - watermark + (long)skip + (long)run > MaxDecodedSpan)
            {
                return null;
            }

            next += (long)skip;
            for (var j = 0UL; j < run; j++)
            {
                result.Add(next++);
            }
        }

        return [.. result];
    }

    private static void WriteHeader(ArrayBufferWriter<byte> writer, long watermark, byte kind)
    {
        writer.Write([Version]);
        WriteVarint(writer, (ulong)watermark);
        writer.Write([kind]);
    }

    internal static void WriteVarint(ArrayBufferWriter<byte> writer, ulong value)
    {
        var span = writer.GetSpan(10);
        var n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[n++] = (byte)value;
        writer.Advance(n);
    }

    internal ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public readonly bool AtEnd => _position == _data.Length;

        public bool TryByte(out byte value)
        {
            value = 0;
            if (_position >= _data.Length)
            {
                return false;
            }

            value = _data[_position++];
            return true;
        }

        public bool TryBytes(int count, out ReadOnlySpan<byte> value)
        {
            value = default;
            if (count < 0 || _data.Length - _position < count)
            {
                return false;
            }

            value = _data.Slice(_position, count);
            _position += count;
            return true;
        }

        public bool TryVarint(out ulong value)
        {
            value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (!TryByte(out var b))
                {
                    return false;
                }

                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return true;
                }
            }

            return false;
        }
    }
}
