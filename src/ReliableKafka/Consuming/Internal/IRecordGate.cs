using Confluent.Kafka;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// An admission rule that lets a record be taken only from a point in time on (the delay tiers' forwarder): until then
/// its partition is held and paused, and fetching restarts at that record once it is due. Records of a partition behind
/// it wait too, so a partition whose records come in due order waits on its head alone.
/// </summary>
internal interface IRecordGate
{
    /// <summary>Gets when the record may be taken (wall clock), or <see langword="null"/> for now.</summary>
    DateTimeOffset? NotBefore(ConsumeResult<byte[]?, byte[]?> record);
}
