using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Tests.Offsets;

public sealed class PartitionOffsetTrackerTests
{
    [Fact]
    public void Progress_CountsTheRecordsFinishedBeyondTheWatermark_AsTheyFinishAndAsTheWatermarkPasses()
    {
        var tracker = new PartitionOffsetTracker();
        tracker.Progress().Should().Be(((long?)null, 0));
        for (var offset = 10; offset < 20; offset++)
        {
            tracker.Register(offset);
        }

        tracker.Complete(12);
        tracker.Complete(15);
        tracker.Complete(19);
        tracker.Progress().Should().Be(((long?)10, 3));
        tracker.Snapshot().FinishedBeyond.Should().HaveCount(3);

        tracker.Complete(11);
        tracker.Complete(10); // the watermark passes 10, 11 and 12, stops at 13
        tracker.Progress().Should().Be(((long?)13, 2));
        tracker.Complete(10).Should().BeFalse("finished already");
        tracker.Progress().Should().Be(((long?)13, 2));

        foreach (var offset in new[] { 13, 14, 16, 17, 18 })
        {
            tracker.Complete(offset);
        }

        tracker.Progress().Should().Be(((long?)20, 0));
    }

    [Fact]
    public void Committable_NothingRegistered_IsNull()
    {
        new PartitionOffsetTracker().Committable.Should().BeNull();
    }

    [Fact]
    public void Committable_RegisteredButUnfinished_IsTheFirstOffset()
    {
        var tracker = new PartitionOffsetTracker();
        tracker.Register(7);
        tracker.Register(8);

        tracker.Committable.Should().Be(7);
        tracker.Pending.Should().Be(2);
    }

    [Fact]
    public void Complete_AllInOrder_CommittableIsOnePastTheLast()
    {
        var tracker = new PartitionOffsetTracker();
        foreach (var offset in new long[] { 0, 1, 2 })
        {
            tracker.Register(offset);
        }

        foreach (var offset in new long[] { 0, 1, 2 })
        {
            tracker.Complete(offset).Should().BeTrue();
        }

        tracker.Committable.Should().Be(3);
        tracker.Pending.Should().Be(0);
    }

    [Fact]
    public void Complete_LaterRecordsFirst_CommittableStaysAtTheLowestUnfinished()
    {
        var tracker = new PartitionOffsetTracker();
        foreach (var offset in new long[] { 10, 11, 12, 13 })
        {
            tracker.Register(offset);
        }

        tracker.Complete(12);
        tracker.Complete(13);
        tracker.Complete(11);
        tracker.Committable.Should().Be(10);

        tracker.Complete(10);
        tracker.Committable.Should().Be(14);
    }

    [Fact]
    public void Committable_OffsetsWithGaps_JumpsTheGapsOnlyOverFinishedRecords()
    {
        var tracker = new PartitionOffsetTracker();
        tracker.Register(5);
        tracker.Register(9);
        tracker.Register(20);

        tracker.Complete(5);
        tracker.Committable.Should().Be(9);
        tracker.Complete(20);
        tracker.Committable.Should().Be(9);
        tracker.Complete(9);
        tracker.Committable.Should().Be(21);
    }

    [Fact]
    public void Snapshot_FinishedBehindAnUnfinishedRecord_ListsThemBeyondTheWatermark()
    {
        var tracker = new PartitionOffsetTracker();
        foreach (var offset in new long[] { 3, 4, 5, 7, 9 })
        {
            tracker.Register(offset);
        }

        tracker.Complete(5);
        tracker.Complete(9);
        var (committable, finished) = tracker.Snapshot();

        committable.Should().Be(3);
        finished.Should().Equal(5, 9);
        tracker.LowestUnfinished.Should().Be(3);
    }

    [Fact]
    public void Snapshot_AllFinished_IsOnePastTheLastWithNothingBeyond()
    {
        var tracker = new PartitionOffsetTracker();
        tracker.Register(3);
        tracker.Complete(3);

        var (committable, finished) = tracker.Snapshot();

        committable.Should().Be(4);
        finished.Should().BeEmpty();
        tracker.LowestUnfinished.Should().BeNull();
    }

    [Fact]
    public void Register_OffsetAtOrBelowOneSeenBefore_IsRefused()
    {
        var tracker = new PartitionOffsetTracker();
        tracker.Register(4).Should().BeTrue();
        tracker.Complete(4);

        tracker.Register(4).Should().BeFalse();
        tracker.Register(3).Should().BeFalse();
        tracker.Committable.Should().Be(5);
    }

    [Fact]
    public void Register_NegativeOffset_Throws()
    {
        var act = () => new PartitionOffsetTracker().Register(-1);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("offset");
    }

    [Fact]
    public void Complete_UnknownOrAlreadyFinished_ReturnsFalseAndChangesNothing()
    {
        var tracker = new PartitionOffsetTracker();
        tracker.Register(1);
        tracker.Register(2);

        tracker.Complete(3).Should().BeFalse();
        tracker.Complete(2).Should().BeTrue();
        tracker.Complete(2).Should().BeFalse();
        tracker.Committable.Should().Be(1);
    }

    /// <summary>
    /// Thousands of seeded runs: records with gapped offsets are registered in order and finish in random
    /// order, interleaved. After every step the committable offset must equal the lowest unfinished offset
    /// (or one past the last registered when none is unfinished), so it never passes an unfinished record.
    /// </summary>
    [Fact]
    public void Committable_RandomCompletionOrders_NeverPassesAnUnfinishedRecord()
    {
        for (var seed = 1; seed <= 3000; seed++)
        {
            var random = new Random(seed);
            var tracker = new PartitionOffsetTracker();
            var unfinished = new SortedSet<long>();
            var next = (long)random.Next(0, 1000);
            long? last = null;
            var records = random.Next(1, 200);
            var registered = 0;

            while (registered < records || unfinished.Count > 0)
            {
                if (registered < records && (unfinished.Count == 0 || random.NextDouble() < 0.55))
                {
                    tracker.Register(next).Should().BeTrue();
                    unfinished.Add(next);
                    last = next;
                    registered++;
                    next += random.Next(1, 4); // gaps, as compaction and transaction markers leave
                }
                else
                {
                    var index = random.Next(unfinished.Count);
                    var offset = unfinished.ElementAt(index);
                    tracker.Complete(offset).Should().BeTrue();
                    unfinished.Remove(offset);
                }

                var expected = unfinished.Count > 0 ? unfinished.Min : last!.Value + 1;
                if (tracker.Committable != expected)
                {
                    Assert.Fail($"seed {seed}: committable {tracker.Committable}, lowest unfinished or next {expected}");
                }
            }
        }
    }
}
