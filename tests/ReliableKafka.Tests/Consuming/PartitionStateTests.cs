using System.Text;
using Confluent.Kafka;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Tests.Consuming;

public sealed class PartitionStateTests
{
    private static readonly TopicPartition P0 = new("orders", 0);

    [Fact]
    public void Enqueue_KeyMode_SameKeyQueuesBehindOneLaneAndOtherKeysGetTheirOwn()
    {
        var state = new PartitionState(P0, OrderingMode.Key, _ => { });

        state.Enqueue(Record(0, "a"), out var laneA).Should().Be(PartitionState.EnqueueResult.StartLane);
        state.Enqueue(Record(1, "a"), out var again).Should().Be(PartitionState.EnqueueResult.Queued);
        state.Enqueue(Record(2, "b"), out var laneB).Should().Be(PartitionState.EnqueueResult.StartLane);
        state.Enqueue(Record(3, null), out var keyless).Should().Be(PartitionState.EnqueueResult.StartLane);
        state.Enqueue(Record(4, null), out _).Should().Be(PartitionState.EnqueueResult.Queued);

        again.Should().BeNull();
        laneA!.Key.Should().Equal(Encoding.UTF8.GetBytes("a"));
        laneB.Should().NotBeSameAs(laneA);
        keyless!.Key.Should().BeNull("keyless records are ordered per partition");
        Drain(state, laneA).Should().Equal(0, 1);
    }

    [Fact]
    public void TryDequeue_KeyLaneRunsEmpty_IsForgottenSoManyKeysDoNotAccumulate()
    {
        var state = new PartitionState(P0, OrderingMode.Key, _ => { });
        state.Enqueue(Record(0, "a"), out var first);
        Drain(state, first!);

        state.Enqueue(Record(1, "a"), out var second).Should().Be(PartitionState.EnqueueResult.StartLane);

        second.Should().NotBeSameAs(first, "the idle lane of key a was removed and a new one made");
        state.WaitIdle(TimeSpan.Zero).Should().BeFalse("a lane is running");
        Drain(state, second!);
        state.WaitIdle(TimeSpan.Zero).Should().BeTrue();
    }

    [Fact]
    public void Enqueue_PartitionMode_EveryRecordSharesOneLane()
    {
        var state = new PartitionState(P0, OrderingMode.Partition, _ => { });

        state.Enqueue(Record(0, "a"), out var lane).Should().Be(PartitionState.EnqueueResult.StartLane);
        state.Enqueue(Record(1, "b"), out _).Should().Be(PartitionState.EnqueueResult.Queued);

        Drain(state, lane!).Should().Equal(0, 1);
    }

    [Fact]
    public void Enqueue_NoneMode_EveryRecordStartsItsOwnLane()
    {
        var state = new PartitionState(P0, OrderingMode.None, _ => { });

        state.Enqueue(Record(0, "a"), out var first).Should().Be(PartitionState.EnqueueResult.StartLane);
        state.Enqueue(Record(1, "a"), out var second).Should().Be(PartitionState.EnqueueResult.StartLane);

        second.Should().NotBeSameAs(first);
    }

    [Fact]
    public void Enqueue_RecordAPreviousOwnerFinished_IsSkippedAndCountsAsFinished()
    {
        var state = new PartitionState(P0, OrderingMode.Key, _ => { });
        state.SkipFinished([1, 2]);

        state.Enqueue(Record(0, "a"), out var lane).Should().Be(PartitionState.EnqueueResult.StartLane);
        state.Enqueue(Record(1, "b"), out _).Should().Be(PartitionState.EnqueueResult.Skipped);
        state.Enqueue(Record(2, "a"), out _).Should().Be(PartitionState.EnqueueResult.Skipped);
        state.Enqueue(Record(3, "a"), out _).Should().Be(PartitionState.EnqueueResult.Queued);

        state.Offsets.Committable.Should().Be(0);
        state.Offsets.Complete(0);
        state.Offsets.Committable.Should().Be(3, "1 and 2 finished before; 3 has not");
        Drain(state, lane!).Should().Equal(0, 3);
    }

    [Fact]
    public void Enqueue_StoppedOrFailedPartition_TakesNothing()
    {
        var stopped = new PartitionState(P0, OrderingMode.Key, _ => { });
        var failed = new PartitionState(P0, OrderingMode.Key, _ => { });
        stopped.Stop();
        failed.Fail(new InvalidOperationException("boom"));

        stopped.Enqueue(Record(0, "a"), out _).Should().Be(PartitionState.EnqueueResult.Rejected);
        failed.Enqueue(Record(0, "a"), out _).Should().Be(PartitionState.EnqueueResult.Rejected);
        stopped.Offsets.Committable.Should().BeNull("a record not taken is not registered either");
    }

    [Fact]
    public void BeyondGapBound_RecordTooFarPastTheLowestUnfinished_IsReported()
    {
        var state = new PartitionState(P0, OrderingMode.Key, _ => { });
        state.Enqueue(Record(10, "slow"), out _);

        state.BeyondGapBound(10 + OffsetGapCodec.MaxSpan - 1).Should().BeFalse();
        state.BeyondGapBound(10 + OffsetGapCodec.MaxSpan).Should().BeTrue();
        state.Offsets.Complete(10);
        state.BeyondGapBound(10 + OffsetGapCodec.MaxSpan).Should().BeFalse("nothing is unfinished any more");
    }

    private static List<long> Drain(PartitionState state, Lane lane)
    {
        var offsets = new List<long>();
        while (state.TryDequeue(lane, out var record, out _))
        {
            offsets.Add(record.Offset.Value);
            state.Offsets.Complete(record.Offset.Value);
        }

        return offsets;
    }

    private static ConsumeResult<byte[]?, byte[]?> Record(long offset, string? key) => new()
    {
        TopicPartitionOffset = new TopicPartitionOffset(P0, offset),
        Message = new Message<byte[]?, byte[]?> { Key = key is null ? null : Encoding.UTF8.GetBytes(key), Value = [] },
    };
}
