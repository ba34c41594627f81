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
    /// What to commit for a partition: its watermark with the records finished beyond it and its parked keys in the
    /// metadata (<c>rk1:&lt;finished&gt;;p=&lt;parked keys&gt;</c>; null when there are neither, or under AtMostOnce). The
    /// parked keys always go in, as many as the metadata holds (<see cref="ParkedKeys.MetadataKeys"/>; those restored from the
    /// previous owner always), then as many finished
    /// records as fit. When more keys are parked than that, the commit stays at the oldest record that parked one of the
    /// others, without finished records: the next owner handles again from there, and parks those keys again.
    /// </summary>
    public (long Offset, string? Metadata) Encode(PartitionState state, long watermark, List<long> finished)
    {
        if (context.AtMostOnce)
        {
            return (watermark, null);
        }

        // Each parked key takes at most 28 bytes, 38 characters of base64.
        var parkedKeys = state.Parked;
        var fit = Math.Max(0, (_limit - 64) / 38);
        parkedKeys.MetadataKeys = Math.Min(context.Options.RetryTopic.MaxParkedKeysPerPartition, fit);
        parkedKeys.MetadataKeysFit = fit;
        var (parked, pinnedAt) = parkedKeys.Encode();
        if (pinnedAt is { } pin && pin < watermark)
        {
            watermark = pin;
            finished = [];
        }

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

        return (watermark, parked is null ? gaps : (gaps ?? OffsetGapCodec.Prefix) + ParkedKeys.MetadataSeparator + parked);
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
