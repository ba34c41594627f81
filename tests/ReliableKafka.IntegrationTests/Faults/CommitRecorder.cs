using Confluent.Kafka;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.IntegrationTests.Faults;

/// <summary>librdkafka's offset store, telling the <see cref="World"/> of every commit that took effect, and by which member.</summary>
internal sealed class CommitRecorder(string member, World world) : IGroupOffsetStore
{
    public void Commit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets)
    {
        NativeGroupOffsetStore.Instance.Commit(consumer, offsets);
        world.Committed(member, offsets.Select(o => (o.Partition, o.Offset)));
    }

    public IReadOnlyList<CommittedOffset> ReadCommitted(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<TopicPartition> partitions, TimeSpan timeout) =>
        NativeGroupOffsetStore.Instance.ReadCommitted(consumer, partitions, timeout);
}
