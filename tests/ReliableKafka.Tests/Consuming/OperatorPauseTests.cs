using Confluent.Kafka;

namespace ReliableKafka.Tests.Consuming;

/// <summary>A partition paused by an operator (the dashboard, IReliableKafkaMonitor.PausePartition) on the fake cluster.</summary>
public sealed class OperatorPauseTests
{
    private static readonly TopicPartition P0 = new("orders", 0);
    private static readonly TopicPartition P1 = new("orders", 1);

    [Fact]
    public async Task Paused_TakesNoRecordsUntilResumed_ThenEachRecordOnce_InOrder_AndCommittedToTheEnd()
    {
        await using var run = EngineRun.Start(o => o.OrderingMode = OrderingMode.Partition);
        run.Kafka.AddRecords(P0, 5);
        run.Kafka.AddRecords(P1, 5);
        run.Kafka.Assign(P0, P1);
        await run.UntilAsync(() => run.Handler.Completed.Count == 10);

        run.Engine.SetPaused(P0, paused: true).Should().BeTrue();
        await run.UntilAsync(() => run.Engine.Status().Partitions.Any(p => p.Partition == 0 && p.Paused));
        run.Engine.Status().Partitions.Single(p => p.Partition == 0).Should().Match<PartitionSnapshot>(p => p.Paused && p.PausedByOperator);
        run.Engine.OperatorPaused.Should().Equal(P0);
        run.Kafka.AddRecords(P0, 5);
        run.Kafka.AddRecords(P1, 5);
        await run.UntilAsync(() => run.Handler.Completed.Count(c => c.Partition == 1) == 10);
        await Task.Delay(300);
        run.Handler.Completed.Count(c => c.Partition == 0).Should().Be(5, "a paused partition takes no records");

        run.Engine.SetPaused(P0, paused: false).Should().BeTrue();
        await run.UntilAsync(() => run.Handler.Completed.Count(c => c.Partition == 0) == 10);
        run.Engine.OperatorPaused.Should().BeEmpty();
        run.Handler.Completed.Where(c => c.Partition == 0).Select(c => c.Offset).Should().Equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "nothing skipped or handled twice, in order");
        await run.StopAsync();
        run.Kafka.Committed(P0).Should().Be(10);
        run.Kafka.Committed(P1).Should().Be(10);
    }

    [Fact]
    public async Task PausedWithRecordsQueued_ThenBackpressure_ResumedPartitionTakesRecordsAgain_NothingSkippedOrTwice()
    {
        // P0 is paused with records queued behind a slow handler; then P1's records fill the buffer and backpressure holds
        // the partitions holding their share (P0 among them). Once resumed, P0 must take records again: its refused and
        // later records are fetched and handled, in order, once.
        var releaseP0 = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseP1 = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var run = EngineRun.Start(
            o =>
            {
                o.OrderingMode = OrderingMode.Partition;
                o.MaxBufferedRecords = 20;
            },
            (record, _) => record.Partition.Value == 0 ? releaseP0.Task : releaseP1.Task,
            backpressureHold: TimeSpan.FromMilliseconds(50));
        run.Kafka.AddRecords(P0, 15);
        run.Kafka.Assign(P0, P1);
        await run.UntilAsync(() => run.Engine.Status().Partitions.Any(p => p.Partition == 0 && p.Buffered == 15));

        run.Engine.SetPaused(P0, paused: true).Should().BeTrue();
        await run.UntilAsync(() => run.Engine.Status().Partitions.Any(p => p.Partition == 0 && p.Paused));
        run.Kafka.AddRecords(P0, 10); // refused while paused
        run.Kafka.AddRecords(P1, 30);
        await run.UntilAsync(() => run.Engine.BufferedRecords == 20);
        await Task.Delay(300); // backpressure engages (the handlers do not drain the buffer)

        releaseP0.SetResult();
        releaseP1.SetResult();
        await run.UntilAsync(() => run.Handler.Completed.Count(c => c.Partition == 1) == 30);
        run.Handler.Completed.Count(c => c.Partition == 0).Should().Be(15, "only what was taken before the pause");

        run.Engine.SetPaused(P0, paused: false).Should().BeTrue();
        run.Kafka.AddRecords(P0, 5);
        await run.UntilAsync(() => run.Handler.Completed.Count(c => c.Partition == 0) == 30);
        run.Handler.Completed.Where(c => c.Partition == 0).Select(c => c.Offset).Should().Equal(Enumerable.Range(0, 30).Select(i => (long)i));
        await run.StopAsync();
        run.Kafka.Committed(P0).Should().Be(30);
        run.Kafka.Committed(P1).Should().Be(30);
    }

    [Fact]
    public async Task StoppedWhilePaused_CommitsWhatFinished_AndNothingBeyond()
    {
        await using var run = EngineRun.Start();
        run.Kafka.AddRecords(P0, 4);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 4);
        run.Engine.SetPaused(P0, paused: true).Should().BeTrue();
        await run.UntilAsync(() => run.Engine.Status().Partitions.Any(p => p.Paused));
        run.Kafka.AddRecords(P0, 4);
        await Task.Delay(300);

        await run.StopAsync();
        run.Handler.Completed.Should().HaveCount(4);
        run.Kafka.Committed(P0).Should().Be(4, "the records refused while paused are the next owner's");
    }

    [Fact]
    public async Task PartitionNotOwned_IsRefused_AndAPauseEndsWhenThePartitionLeaves()
    {
        await using var run = EngineRun.Start();
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 3);
        run.Engine.SetPaused(P1, paused: true).Should().BeFalse("this member does not own it");

        run.Engine.SetPaused(P0, paused: true).Should().BeTrue();
        await run.UntilAsync(() => run.Engine.Status().Partitions.Any(p => p.Partition == 0 && p.Paused));
        run.Kafka.Revoke(P0);
        await run.UntilAsync(() => run.Engine.Assignment.Count == 0);
        run.Kafka.AddRecords(P0, 2);
        run.Kafka.Assign(P0);

        // Assigned again: the pause ended with the assignment, so its new records are handled.
        await run.UntilAsync(() => run.Handler.Completed.Count == 5);
        run.Engine.OperatorPaused.Should().BeEmpty();
        await run.StopAsync();
        run.Kafka.Committed(P0).Should().Be(5);
    }
}
