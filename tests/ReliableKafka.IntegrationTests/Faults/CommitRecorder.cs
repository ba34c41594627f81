using Confluent.Kafka;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.IntegrationTests.Faults;

/// <summary>librdkafka's offset store, telling the <see cref="World"/> of every commit that took effect, and by which member.</summary>
internal sealed class CommitRecorder(string member, World world) : IGroupOffsetStore
{
    public void Commit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets, TimeSpan timeout)
    {
        NativeGroupOffsetStore.Instance.Commit(consumer, offsets, timeout);
        world.Committed(member, offsets.Select(o => (o.Partition, o.Offset)));
    }

    public IPendingCommit BeginCommit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets) =>
        new Recorded(NativeGroupOffsetStore.Instance.BeginCommit(consumer, offsets), member, world);

    public IReadOnlyList<CommittedOffset> ReadCommitted(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<TopicPartition> partitions, TimeSpan timeout) =>
        NativeGroupOffsetStore.Instance.ReadCommitted(consumer, partitions, timeout);

    /// <summary>Tells the world of an asynchronous commit once its result says it took effect.</summary>
    private sealed class Recorded(IPendingCommit inner, string member, World world) : IPendingCommit
    {
        private bool _recorded;

        public IReadOnlyList<OffsetCommit> Offsets => inner.Offsets;

        public bool TryComplete() => Record(inner.TryComplete());

        public bool Wait(TimeSpan timeout) => Record(inner.Wait(timeout));

        public void Dispose() => inner.Dispose();

        private bool Record(bool completed)
        {
            if (!completed)
            {
                return false;
            }

            if (!_recorded)
            {
                _recorded = true;
                world.Committed(member, inner.Offsets.Select(o => (o.Partition, o.Offset)));
            }

            return true;
        }
    }
}
