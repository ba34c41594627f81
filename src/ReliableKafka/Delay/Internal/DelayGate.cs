using Confluent.Kafka;
using ReliableKafka.Consuming.Internal;

namespace ReliableKafka.Delay.Internal;

/// <summary>
/// Holds a delay tier record until its hop time (<see cref="ReliableKafkaHeaders.DelayHopAt"/>), less
/// <see cref="Lookahead"/>; a record without one is taken at once (the forwarder then fails it as unreadable).
/// </summary>
internal sealed class DelayGate : IRecordGate
{
    /// <summary>
    /// How early a record may be taken: records due within this of each other are fetched and forwarded together
    /// rather than each after a pause, a seek and a fetch of its own. The forwarder waits out the rest before a last hop,
    /// so a message is never delivered before it is due.
    /// </summary>
    public static readonly TimeSpan Lookahead = TimeSpan.FromMilliseconds(20);

    public DateTimeOffset? NotBefore(ConsumeResult<byte[]?, byte[]?> record) =>
        DelayHeaders.ReadTime(record.Message.Headers, ReliableKafkaHeaders.DelayHopAt) - Lookahead;
}
