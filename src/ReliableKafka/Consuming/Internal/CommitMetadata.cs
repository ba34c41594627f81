using ReliableKafka.Diagnostics.Internal;
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

    /// <summary>The metadata for a watermark and the records finished beyond it (null when none, or under AtMostOnce).</summary>
    public string? Encode(PartitionState state, long watermark, List<long> finished)
    {
        if (context.AtMostOnce)
        {
            return null;
        }

        try
        {
            return _limit >= OffsetGapCodec.MaxLength
                ? OffsetGapCodec.Encode(watermark, finished)
                : OffsetGapCodec.EncodeWithin(watermark, finished, _limit);
        }
        catch (ArgumentOutOfRangeException e)
        {
            // Cannot happen while the gap bound holds; committing the watermark alone is still safe.
            Log.MetadataNotWritten(context.Logger, context.Name, state.TopicPartition, e.Message);
            return null;
        }
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
