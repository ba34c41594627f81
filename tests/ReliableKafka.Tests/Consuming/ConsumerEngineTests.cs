using System.Collections.Concurrent;
using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Consuming.Internal;

namespace ReliableKafka.Tests.Consuming;

/// <summary>
/// The consumer engine against a scripted consumer: deterministic checks of what is committed, when, and what
/// never is (revocation, lost partitions, late completions, failures, refused commits, backpressure).
/// </summary>
public sealed class ConsumerEngineTests
{
    private static readonly TopicPartition P0 = new("orders", 0);
    private static readonly TopicPartition P1 = new("orders", 1);

    [Fact]
    public async Task Revocation_FinishedRecords_AreCommittedBeforeTheRevocationReturns()
    {
        await using var run = EngineRun.Start();
        run.Kafka.AddRecords(P0, 5);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 5);

        run.Kafka.Revoke(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("revoke end 0"));

        run.Kafka.Timeline.SkipWhile(e => e != "revoke begin 0").TakeWhile(e => e != "revoke end 0")
            .Should().Contain("commit 0@5", "the commit interval (1 h) never came; revocation committed");
    }

    [Fact]
    public async Task Revocation_RunningHandler_FinishesAndIsCommittedBeforeTheRevocationReturns()
    {
        var release = new TaskCompletionSource();
        await using var run = EngineRun.Start(behavior: async (record, _) =>
        {
            if (record.Offset.Value == 2)
            {
                await release.Task;
            }
        });
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Started.Contains((0, 2)));

        run.Kafka.Revoke(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("revoke begin 0"));
        await Task.Delay(200);
        release.SetResult();
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("revoke end 0"));

        var revocation = run.Kafka.Timeline.SkipWhile(e => e != "revoke begin 0").TakeWhile(e => e != "revoke end 0").ToList();
        revocation.Should().Contain("commit 0@2", "what had finished is committed at once")
            .And.Contain("commit 0@3", "the running handler finished within RevocationTimeout and is committed too");
    }

    [Fact]
    public async Task Revocation_HandlerOutlivesTheTimeout_IsCancelledAndItsRecordIsNotCommitted()
    {
        var cancelled = new TaskCompletionSource();
        await using var run = EngineRun.Start(
            o => o.RevocationTimeout = TimeSpan.FromMilliseconds(200),
            async (record, token) =>
            {
                if (record.Offset.Value == 1)
                {
                    await using var registration = token.Register(() => cancelled.TrySetResult());
                    await Task.Delay(Timeout.Infinite, token);
                }
            });
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Started.Contains((0, 1)));

        run.Kafka.Revoke(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("revoke end 0"));

        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        run.Kafka.Committed(P0).Should().Be(1, "record 1 was abandoned, so nothing at or past it is committed");
        run.Handler.Started.Should().NotContain((0, 2), "records queued behind a revoked partition's running record are dropped");
    }

    [Fact]
    public async Task Revocation_HandlerFinishingAfterTheRevocation_IsNeverCommitted()
    {
        var release = new TaskCompletionSource();
        await using var run = EngineRun.Start(
            o => o.RevocationTimeout = TimeSpan.FromMilliseconds(100),
            async (record, _) =>
            {
                if (record.Offset.Value == 1)
                {
                    await release.Task; // ignores cancellation: a zombie
                }
            });
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Started.Contains((0, 1)));
        run.Kafka.Revoke(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("revoke end 0"));
        var commitsAfterRevocation = run.Kafka.Timeline.Count;

        release.SetResult();
        await run.UntilAsync(() => run.Handler.Completed.Contains((0, 1)));
        await Task.Delay(300); // several commit intervals
        await run.StopAsync();

        run.Kafka.Committed(P0).Should().Be(1);
        run.Kafka.Timeline.Skip(commitsAfterRevocation).Should().NotContain(e => e.StartsWith("commit", StringComparison.Ordinal) && e.Contains("0@", StringComparison.Ordinal),
            "a result that arrives after the partition was given up belongs to a retired assignment");
    }

    [Fact]
    public async Task PartitionsLost_NothingIsCommittedForThemAndTheirHandlersAreCancelled()
    {
        var cancelled = new TaskCompletionSource();
        await using var run = EngineRun.Start(behavior: async (record, token) =>
        {
            if (record.Offset.Value == 2)
            {
                await using var registration = token.Register(() => cancelled.TrySetResult());
                await Task.Delay(Timeout.Infinite, token);
            }
        });
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Started.Contains((0, 2)));

        run.Kafka.Lose(P0);
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await run.StopAsync();

        run.Kafka.Committed(P0).Should().BeNull("the session expired: another member may own the partition already");
    }

    [Fact]
    public async Task HandlerFails_ItsPartitionPausesAndCommitsStopBelowTheRecordWhileOthersContinue()
    {
        await using var run = EngineRun.Start(behavior: (record, _) =>
            record.Partition.Value == 0 && record.Offset.Value == 2 ? throw new InvalidOperationException("boom") : Task.CompletedTask);
        run.Kafka.AddRecords(P0, 5);
        run.Kafka.AddRecords(P1, 5);
        run.Kafka.Assign(P0, P1);

        await run.UntilAsync(() => run.Handler.Completed.Count(r => r.Partition == 1) == 5 && run.Kafka.Timeline.Contains("pause 0"));
        await run.StopAsync();

        run.Handler.Started.Where(r => r.Partition == 0).Select(r => r.Offset).Should().Equal(0, 1, 2);
        run.Kafka.Committed(P0).Should().Be(2);
        run.Kafka.Committed(P1).Should().Be(5);
    }

    [Fact]
    public async Task Shutdown_CommitRefusedByARebalance_IsRetriedWhileServingTheConsumer()
    {
        await using var run = EngineRun.Start();
        run.Kafka.AddRecords(P0, 4);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 4);
        var refusals = 0;
        run.Kafka.RefuseCommit = _ => Interlocked.Increment(ref refusals) <= 3 ? new Error(ErrorCode.RebalanceInProgress) : null;
        var consumeCallsBefore = Volatile.Read(ref run.Kafka.ConsumeCalls);

        await run.StopAsync();

        refusals.Should().Be(4, "three refusals, then the commit went through");
        run.Kafka.Committed(P0).Should().Be(4);
        Volatile.Read(ref run.Kafka.ConsumeCalls).Should().BeGreaterThan(consumeCallsBefore, "the consumer was served between attempts");
        run.Kafka.Timeline.Should().ContainInOrder("commit 0@4", "close");
    }

    [Fact]
    public async Task Revocation_CommitRefusedThroughout_GivesUpWithinTheCallbackBudgetAndLetsGo()
    {
        await using var run = EngineRun.Start();
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 3);
        run.Kafka.RefuseCommit = _ => new Error(ErrorCode.RebalanceInProgress);

        var watch = Stopwatch.StartNew();
        run.Kafka.Revoke(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("revoke end 0"));
        watch.Stop();

        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5), "a coordinator refusing commits waits for this member to rejoin; holding the callback would stall the group");
        run.Kafka.Timeline.Count(e => e.StartsWith("commit refused", StringComparison.Ordinal)).Should().BeGreaterThan(1, "it retried before giving up");
        run.Kafka.Committed(P0).Should().BeNull();
    }

    [Fact]
    public async Task Backpressure_PausesAtTheLimitAndResumesFromTheNextRecord()
    {
        var gate = new SemaphoreSlim(0);
        await using var run = EngineRun.Start(o => o.MaxBufferedRecords = 4, async (_, token) => await gate.WaitAsync(token));
        run.Kafka.AddRecords(P0, 10);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("pause 0"));
        var bufferedWhilePaused = run.Engine.BufferedRecords;

        gate.Release(10);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("resume 0"));
        gate.Release(10);
        await run.UntilAsync(() => run.Handler.Completed.Count == 10);
        await run.StopAsync();

        bufferedWhilePaused.Should().Be(4);
        var timeline = run.Kafka.Timeline;
        var resumed = timeline.ToList().IndexOf("resume 0");
        timeline[resumed + 1].Should().Be("seek 0@4", "fetching restarts right after the last record handed out");
        run.Handler.Completed.Where(r => r.Partition == 0).Select(r => r.Offset).Should().Equal(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    }

    [Fact]
    public async Task CommitInterval_OnlyOffsetsThatMovedAreCommitted()
    {
        await using var run = EngineRun.Start(o => o.CommitInterval = TimeSpan.FromMilliseconds(20));
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 3);

        await Task.Delay(300);
        await run.StopAsync();

        run.Kafka.Timeline.Count(e => e == "commit 0@3").Should().Be(1);
    }

    [Fact]
    public async Task AtMostOnce_OffsetsAreCommittedBeforeTheHandlerRunsAndFailuresAreNotRetried()
    {
        await using var run = EngineRun.Start(
            o => o.DeliveryGuarantee = DeliveryGuarantee.AtMostOnce,
            (record, _) => record.Offset.Value == 1 ? throw new InvalidOperationException("lost") : Task.CompletedTask);
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Started.Count == 3);
        await run.StopAsync();

        var timeline = run.Kafka.Timeline.ToList();
        var firstHandled = timeline.FindIndex(e => e.StartsWith("handle", StringComparison.Ordinal));
        var commit = timeline.FindIndex(e => e.StartsWith("commit 0@", StringComparison.Ordinal));
        commit.Should().BeLessThan(firstHandled, "at most once: committed before handling");
        run.Handler.Started.Select(r => r.Offset).Should().Equal(0, 1, 2);
        run.Kafka.Committed(P0).Should().Be(3);
    }

    /// <summary>An engine running on a fake consumer with a scripted handler.</summary>
    private sealed class EngineRun : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private Task? _run;

        private EngineRun(FakeKafka kafka, ScriptedHandler handler, ConsumerEngine engine)
        {
            Kafka = kafka;
            Handler = handler;
            Engine = engine;
        }

        public FakeKafka Kafka { get; }

        public ScriptedHandler Handler { get; }

        public ConsumerEngine Engine { get; }

        public static EngineRun Start(Action<ConsumerOptions>? configure = null, Func<ConsumeResult<byte[]?, byte[]?>, CancellationToken, Task>? behavior = null)
        {
            var options = new ConsumerOptions { GroupId = "g", CommitInterval = TimeSpan.FromHours(1), ShutdownTimeout = TimeSpan.FromSeconds(5) };
            options.Topics.Add("orders");
            configure?.Invoke(options);
            var config = KafkaClientConfigBuilder.BuildConsumer(new ReliableKafkaOptions { BootstrapServers = "fake:9092" }, "test", options).ThrowIfInvalid();
            var kafka = new FakeKafka();
            var handler = new ScriptedHandler(kafka, behavior);
            var engine = new ConsumerEngine(config, options, handler, NullLoggerFactory.Instance, TimeProvider.System, settings => new FakeConsumerBuilder(kafka, settings));
            var run = new EngineRun(kafka, handler, engine);
            run._run = engine.RunAsync(run._stop.Token);
            return run;
        }

#pragma warning disable CA1822 // An instance method reads naturally in the tests: run.UntilAsync(...).
        public Task UntilAsync(Func<bool> condition) => WaitUntilAsync(condition, TimeSpan.FromSeconds(20));
#pragma warning restore CA1822

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await _run!.WaitAsync(TimeSpan.FromSeconds(30));
        }

        public async ValueTask DisposeAsync()
        {
            if (!_stop.IsCancellationRequested)
            {
                await StopAsync();
            }

            _stop.Dispose();
        }

        private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
        {
            var watch = Stopwatch.StartNew();
            while (!condition())
            {
                if (watch.Elapsed > timeout)
                {
                    throw new TimeoutException("The condition did not become true in time.");
                }

                await Task.Delay(5);
            }
        }
    }

    private sealed class ScriptedHandler(FakeKafka kafka, Func<ConsumeResult<byte[]?, byte[]?>, CancellationToken, Task>? behavior) : IRecordHandler
    {
        public ConcurrentQueue<(int Partition, long Offset)> Started { get; } = new();

        public ConcurrentQueue<(int Partition, long Offset)> Completed { get; } = new();

        public async Task HandleAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken)
        {
            Started.Enqueue((record.Partition.Value, record.Offset.Value));
            kafka.Record($"handle {record.Partition.Value}@{record.Offset.Value}");
            if (behavior is not null)
            {
                await behavior(record, cancellationToken);
            }

            Completed.Enqueue((record.Partition.Value, record.Offset.Value));
        }
    }
}
