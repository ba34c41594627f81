using ReliableKafka.Diagnostics.Internal;
using ReliableKafka.Failures.Internal.Retry;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// The metadata of a partition's commit: which records beyond the watermark finished (<see cref="OffsetGapCodec"/>),
/// within the length the brokers accept as far as this member knows. Poll thread only.
/// </summary>
internal sealed class CommitMetadata(EngineContext context)
{
    private int _limit = OffsetGapCodec.MaxLength;
    private bool _limited;

    /// <summary>
    /// The metadata for a watermark, the records finished beyond it and the partition's parked keys (null when there are
    /// neither, or under AtMostOnce). The parked keys always go in (they keep order; their number is bounded), followed by
    /// as many finished records as fit: <c>rk1:&lt;finished&gt;;p=&lt;parked keys&gt;</c>.
    /// </summary>
    public string? Encode(PartitionState state, long watermark, List<long> finished)
    {
        if (context.AtMostOnce)
        {
            return null;
        }

        var parked = state.Parked.Encode();
        var room = parked is null ? _limit : _limit - parked.Length - ParkedKeys.MetadataSeparator.Length;
        string? gaps = null;
        try
        {
            gaps = room >= OffsetGapCodec.MaxLength ? OffsetGapCodec.Encode(watermark, finished)
                : room > OffsetGapCodec.Prefix.Length ? OffsetGapCodec.EncodeWithin(watermark, finished, room)
                : null;
        }
        catch (ArgumentOutOfRangeException e)
        {
            // Cannot happen while the gap bound holds; committing the watermark alone is still safe.
            Log.MetadataNotWritten(context.Logger, context.Name, state.TopicPartition, e.Message);
        }

        return parked is null ? gaps : (gaps ?? OffsetGapCodec.Prefix) + ParkedKeys.MetadataSeparator + parked;
    }

    /// <summary>Splits commit metadata into its finished records' part (null when none) and its parked keys' part (null when none).</summary>
    public static (string? Finished, string? Parked) Split(string metadata)
    {
        var at = metadata.IndexOf(ParkedKeys.MetadataSeparator, StringComparison.Ordinal);
        if (at < 0)
        {
            return (metadata, null);
        }

        var finished = metadata[..at];
        return (finished == OffsetGapCodec.Prefix ? null : finished, metadata[(at + ParkedKeys.MetadataSeparator.Length)..]);
    }

    /// <summary>
    /// Learns that the brokers refuse commit metadata of <paramref name="refusedLength"/> characters: later metadata
    /// carries at most half of that (the offsets finished beyond the watermark that fit; the rest are handled again
    /// after a restart). Logged once.
    /// </summary>
    public void Refused(PartitionState state, int refusedLength)
    {
        var limit = Math.Min(_limit, refusedLength / 2);
        if (!_limited)
        {
            _limited = true;
            Log.MetadataTooLarge(context.Logger, context.Name, state.TopicPartition, refusedLength, limit);
        }

        _limit = limit;
    }
}
