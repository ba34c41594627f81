using System.Collections.Concurrent;
using System.Diagnostics;
using Confluent.Kafka;
using ReliableKafka.Offsets.Internal;

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
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var run = EngineRun.Start(
            o => o.RevocationTimeout = TimeSpan.FromMilliseconds(200),
            async (record, token) =>
            {
                if (record.Offset.Value == 1)
                {
                    await WaitForCancellationAsync(cancelled, token);
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
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var run = EngineRun.Start(behavior: async (record, token) =>
        {
            if (record.Offset.Value == 2)
            {
                await WaitForCancellationAsync(cancelled, token);
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
        await using var run = EngineRun.Start(
            o =>
            {
                o.FailurePolicy = FailurePolicy.PausePartition;
                o.Retry.MaxAttempts = 1;
            },
            (record, _) => record.Partition.Value == 0 && record.Offset.Value == 2 ? throw new InvalidOperationException("boom") : Task.CompletedTask);
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

    [Theory]
    [InlineData(OrderingMode.Partition, DeliveryGuarantee.AtLeastOnce)]
    [InlineData(OrderingMode.Key, DeliveryGuarantee.AtLeastOnce)]
    [InlineData(OrderingMode.Key, DeliveryGuarantee.AtMostOnce)]
    public async Task Backpressure_RecordsLeftUntakenWhileTheBufferIsFull_AreAllHandledOnceAndCommitted(OrderingMode mode, DeliveryGuarantee guarantee)
    {
        // A tiny buffer over many partitions and no holding off before pausing: records are refused all the time,
        // sometimes by a partition whose hold ends before it was ever paused, and sometimes before the partition
        // handed out anything. librdkafka (and the fake) has moved past a refused record.
        var partitions = Enumerable.Range(0, 6).Select(p => new TopicPartition("orders", p)).ToArray();
        await using var run = EngineRun.Start(
            o =>
            {
                o.OrderingMode = mode;
                o.DeliveryGuarantee = guarantee;
                o.MaxBufferedRecords = 5;
                o.CommitInterval = TimeSpan.FromMilliseconds(50);
            },
            async (record, token) => await Task.Delay((int)(record.Offset.Value % 3), token),
            backpressureHold: TimeSpan.Zero);
        foreach (var partition in partitions)
        {
            run.Kafka.AddRecords(partition, 60, key: offset => $"k{offset % 4}");
        }

        run.Kafka.Assign(partitions);
        await run.UntilAsync(() => partitions.All(p => run.Kafka.Committed(p) == 60) && run.Handler.Completed.Count >= 360);
        await run.StopAsync();

        foreach (var partition in partitions)
        {
            run.Handler.Completed.Where(r => r.Partition == partition.Partition.Value).Select(r => r.Offset).Order()
                .Should().Equal(Enumerable.Range(0, 60).Select(o => (long)o), "every record of partition {0} is handled exactly once", partition.Partition.Value);
        }
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

    /// <summary>
    /// Seeded runs of the key dispatcher: records of many keys over several partitions, handlers with random
    /// delays. A key never has two handlers running at once, its records run in offset order, the concurrency
    /// limit holds, and every record is handled once and committed.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task KeyMode_RandomKeysAndDelays_OneAtATimePerKeyInOffsetOrderWithinTheConcurrencyLimit(int seed)
    {
        var random = new Random(seed);
        var delays = new ConcurrentDictionary<(int, long), int>();
        var running = new ConcurrentDictionary<(int, string), int>();
        var overlaps = 0;
        var concurrent = 0;
        var maxConcurrent = 0;
        await using var run = EngineRun.Start(
            o => o.MaxConcurrency = 8,
            async (record, token) =>
            {
                // Lanes are per partition and key: Kafka orders a key only within its partition.
                var key = (record.Partition.Value, System.Text.Encoding.UTF8.GetString(record.Message.Key!));
                if (running.AddOrUpdate(key, 1, (_, n) => n + 1) > 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                var now = Interlocked.Increment(ref concurrent);
                InterlockedMax(ref maxConcurrent, now);
                await Task.Delay(delays.GetOrAdd((record.Partition.Value, record.Offset.Value), _ => 0), token);
                Interlocked.Decrement(ref concurrent);
                running.AddOrUpdate(key, 0, (_, n) => n - 1);
            });
        var partitions = Enumerable.Range(0, 4).Select(p => new TopicPartition("orders", p)).ToArray();
        foreach (var partition in partitions)
        {
            run.Kafka.AddRecords(partition, 150, _ => $"key-{random.Next(20)}");
            for (var offset = 0; offset < 150; offset++)
            {
                delays[(partition.Partition.Value, offset)] = random.Next(0, 3);
            }
        }

        run.Kafka.Assign(partitions);
        await run.UntilAsync(() => run.Handler.Completed.Count == 600);
        await run.StopAsync();

        overlaps.Should().Be(0, "a key of a partition never has two handlers running at once");
        maxConcurrent.Should().BeInRange(2, 8, "handlers run concurrently, up to MaxConcurrency");
        run.Handler.Completed.Should().OnlyHaveUniqueItems().And.HaveCount(600);
        foreach (var partition in partitions)
        {
            var started = run.Handler.Started.Where(r => r.Partition == partition.Partition.Value).ToList();
            foreach (var key in started.GroupBy(r => run.Kafka.KeyAt(partition, r.Offset)))
            {
                key.Select(r => r.Offset).Should().BeInAscendingOrder($"records of {key.Key} in partition {partition.Partition.Value} run in offset order");
            }

            run.Kafka.Committed(partition).Should().Be(150);
        }
    }

    [Fact]
    public async Task PartitionMode_RecordsOfAPartitionRunOneAtATimeInOffsetOrder()
    {
        var running = 0;
        var overlaps = 0;
        await using var run = EngineRun.Start(
            o => o.OrderingMode = OrderingMode.Partition,
            async (_, token) =>
            {
                if (Interlocked.Increment(ref running) > 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                await Task.Delay(1, token);
                Interlocked.Decrement(ref running);
            });
        run.Kafka.AddRecords(P0, 30, offset => $"key-{offset}");
        run.Kafka.Assign(P0);

        await run.UntilAsync(() => run.Handler.Completed.Count == 30);
        await run.StopAsync();

        overlaps.Should().Be(0);
        run.Handler.Started.Select(r => r.Offset).Should().BeInAscendingOrder();
    }

    [Fact]
    public async Task NoneMode_RecordsOfOneKeyRunConcurrentlyAndAreStillCommittedToTheEnd()
    {
        var running = 0;
        var maxRunning = 0;
        await using var run = EngineRun.Start(
            o => o.OrderingMode = OrderingMode.None,
            async (_, token) =>
            {
                InterlockedMax(ref maxRunning, Interlocked.Increment(ref running));
                await Task.Delay(5, token);
                Interlocked.Decrement(ref running);
            });
        run.Kafka.AddRecords(P0, 40);
        run.Kafka.Assign(P0);

        await run.UntilAsync(() => run.Handler.Completed.Count == 40);
        await run.StopAsync();

        maxRunning.Should().BeGreaterThan(1);
        run.Kafka.Committed(P0).Should().Be(40);
    }

    [Fact]
    public async Task Commit_LaterKeysFinishedBehindASlowOne_AreWrittenToTheCommitMetadata()
    {
        var release = new TaskCompletionSource();
        await using var run = EngineRun.Start(
            o => o.CommitInterval = TimeSpan.FromMilliseconds(20),
            async (record, _) =>
            {
                if (record.Offset.Value == 0)
                {
                    await release.Task;
                }
            });
        run.Kafka.AddRecords(P0, 10, offset => offset == 0 ? "slow" : $"key-{offset}");
        run.Kafka.Assign(P0);

        await run.UntilAsync(() => run.Kafka.CommittedMetadata(P0) is { } m && OffsetGapCodec.TryDecode(m, out _, out var f, out _) && f.Length == 9);
        var metadata = run.Kafka.CommittedMetadata(P0);
        release.SetResult();
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 10);
        await run.StopAsync();

        run.Kafka.Committed(P0).Should().Be(10);
        run.Kafka.CommittedMetadata(P0).Should().BeNull("nothing is finished beyond the end");
        OffsetGapCodec.TryDecode(metadata, out var watermark, out var finished, out _).Should().BeTrue();
        watermark.Should().Be(0);
        finished.Should().Equal(1, 2, 3, 4, 5, 6, 7, 8, 9);
    }

    [Fact]
    public async Task Assignment_MetadataOfAPreviousOwner_SkipsTheRecordsItFinished()
    {
        var kafka = new FakeKafka();
        kafka.AddRecords(P0, 12, offset => $"key-{offset}");
        kafka.SetCommitted(P0, 2, OffsetGapCodec.Encode(2, [3, 4, 6, 7]));
        await using var run = EngineRun.Start(kafka: kafka);

        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 6);
        await run.StopAsync();

        run.Handler.Started.Select(r => r.Offset).Order().Should().Equal(2, 5, 8, 9, 10, 11);
        run.Kafka.Committed(P0).Should().Be(12);
    }

    [Theory]
    [InlineData("another library's metadata")]
    [InlineData("rk1:not-base64!")]
    public async Task Assignment_ForeignOrCorruptMetadata_IsIgnoredAndEverythingIsHandled(string metadata)
    {
        var kafka = new FakeKafka();
        kafka.AddRecords(P0, 5, offset => $"key-{offset}");
        kafka.SetCommitted(P0, 1, metadata);
        await using var run = EngineRun.Start(kafka: kafka);

        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 4);
        await run.StopAsync();

        run.Handler.Started.Select(r => r.Offset).Order().Should().Equal(1, 2, 3, 4);
        run.Kafka.Committed(P0).Should().Be(5);
    }

    [Fact]
    public async Task Assignment_MetadataForAnotherOffset_IsIgnoredAsStale()
    {
        var kafka = new FakeKafka();
        kafka.AddRecords(P0, 6, offset => $"key-{offset}");
        kafka.SetCommitted(P0, 3, OffsetGapCodec.Encode(1, [2, 4]));
        await using var run = EngineRun.Start(kafka: kafka);

        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 3);
        await run.StopAsync();

        run.Handler.Started.Select(r => r.Offset).Order().Should().Equal(3, 4, 5);
        run.Kafka.Committed(P0).Should().Be(6);
    }

    [Fact]
    public async Task GapBound_ASlowRecordFarBehind_StopsTakingRecordsUntilItFinishesThenResumesFromThere()
    {
        var release = new TaskCompletionSource();
        var total = (int)OffsetGapCodec.MaxSpan + 2000;
        await using var run = EngineRun.Start(
            o =>
            {
                o.MaxBufferedRecords = 1_000_000;
                o.CommitInterval = TimeSpan.FromMilliseconds(50);
            },
            async (record, _) =>
            {
                if (record.Offset.Value == 0)
                {
                    await release.Task;
                }
            });
        run.Kafka.AddRecords(P0, total, offset => offset == 0 ? "slow" : $"key-{offset % 500}");
        run.Kafka.Assign(P0);

        await run.UntilAsync(() => run.Kafka.Timeline.Contains("pause 0"));
        await Task.Delay(200);
        var startedWhileStuck = run.Handler.Started.Count;
        var metadataWhileStuck = run.Kafka.CommittedMetadata(P0);
        release.SetResult();
        await run.UntilAsync(() => run.Kafka.Committed(P0) == total);
        await run.StopAsync();

        startedWhileStuck.Should().Be((int)OffsetGapCodec.MaxSpan, "records at MaxSpan or more beyond the unfinished one were not taken");
        metadataWhileStuck!.Length.Should().BeLessThanOrEqualTo(OffsetGapCodec.MaxLength);
        run.Kafka.Timeline.Should().Contain($"seek 0@{OffsetGapCodec.MaxSpan}", "fetching resumes at the first record not taken");
        run.Handler.Completed.Select(r => r.Offset).Should().OnlyHaveUniqueItems().And.HaveCount(total);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task PausedForBackpressure_RevokedOrLostThenAssignedBack_IsFetchedAgainAndFinishes(bool lost)
    {
        // librdkafka keeps an application pause across unassign/assign (the fake does too): a partition paused when it
        // was let go comes back paused unless the engine resumes it.
        var gate = new TaskCompletionSource();
        await using var run = EngineRun.Start(
            o =>
            {
                o.MaxBufferedRecords = 4;
                o.RevocationTimeout = TimeSpan.FromMilliseconds(100);
                o.CommitInterval = TimeSpan.FromMilliseconds(20);
            },
            async (_, token) => await gate.Task.WaitAsync(token),
            backpressureHold: TimeSpan.FromMilliseconds(10));
        run.Kafka.AddRecords(P0, 30);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("pause 0"));

        if (lost)
        {
            run.Kafka.Lose(P0);
        }
        else
        {
            run.Kafka.Revoke(P0);
        }

        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Count(e => e.StartsWith("assigned", StringComparison.Ordinal)) == 2);
        gate.SetResult();
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 30);
        await run.StopAsync();

        run.Handler.Completed.Select(r => r.Offset).Distinct().Should().HaveCount(30, "every record is handled after the partition came back");
    }

    [Fact]
    public async Task PartitionStoppedByAFailure_RevokedAndAssignedBack_IsFetchedAgainFromItsCommittedOffset()
    {
        var failOnce = 1;
        await using var run = EngineRun.Start(
            o =>
            {
                o.FailurePolicy = FailurePolicy.PausePartition;
                o.Retry.MaxAttempts = 1;
                o.CommitInterval = TimeSpan.FromMilliseconds(20);
            },
            (record, _) => record.Offset.Value == 2 && Interlocked.Exchange(ref failOnce, 0) == 1 ? throw new InvalidOperationException("once") : Task.CompletedTask);
        run.Kafka.AddRecords(P0, 5);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("pause 0") && run.Kafka.Committed(P0) == 2);

        run.Kafka.Revoke(P0);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 5);
        await run.StopAsync();

        run.Handler.Completed.Select(r => r.Offset).Should().Equal(0, 1, 2, 3, 4);
    }

    [Fact]
    public async Task GapBound_CompactionGapBeyondTheBoundBehindASlowRecord_HoldsWithoutCyclingUntilTheRecordFinishes()
    {
        var release = new TaskCompletionSource();
        var gapEnd = OffsetGapCodec.MaxSpan + 10;
        await using var run = EngineRun.Start(
            o => o.CommitInterval = TimeSpan.FromMilliseconds(50),
            async (record, _) =>
            {
                if (record.Offset.Value == 0)
                {
                    await release.Task;
                }
            });
        run.Kafka.AddRecords(P0, (int)gapEnd + 5, offset => offset == 0 ? "slow" : $"key-{offset}");
        run.Kafka.Compact(P0, 10, gapEnd);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("pause 0"));
        await Task.Delay(500);
        var seeksWhileHeld = run.Kafka.Timeline.Count(e => e.StartsWith("seek 0", StringComparison.Ordinal));

        release.SetResult();
        await run.UntilAsync(() => run.Kafka.Committed(P0) == gapEnd + 5);
        await run.StopAsync();

        seeksWhileHeld.Should().BeLessThanOrEqualTo(1, "the record beyond the gap stays out of bounds until the slow record finishes: no pause, resume and seek every poll");
        run.Handler.Completed.Select(r => r.Offset).Should().HaveCount(15).And.OnlyHaveUniqueItems();
    }

    [Fact]
    public async Task Commit_PartitionMetadataRefusedAsTooLarge_IsCommittedAtOnceWithMetadataThatFits()
    {
        var release = new TaskCompletionSource();
        await using var run = EngineRun.Start(
            o => o.CommitInterval = TimeSpan.FromMilliseconds(20),
            async (record, _) =>
            {
                if (record.Partition.Value == 0 && record.Offset.Value == 0)
                {
                    await release.Task;
                }
            });

        // Every third record has the slow record's key and waits behind it, so what finished beyond the watermark is
        // full of holes: long metadata.
        run.Kafka.RefusePartition = commit => commit.Metadata is { Length: > 24 } ? ErrorCode.OffsetMetadataTooLarge : null;
        run.Kafka.AddRecords(P0, 200, offset => offset % 3 == 0 ? "slow" : $"key-{offset}");

        // Another partition in the same commits, without metadata: librdkafka reports the refusal on it too.
        run.Kafka.AddRecords(P1, 5);
        run.Kafka.Assign(P0, P1);
        await run.UntilAsync(() => run.Handler.Completed.Count == 138 && run.Kafka.CommittedMetadata(P0) is not null && run.Kafka.Committed(P1) == 5);
        var metadata = run.Kafka.CommittedMetadata(P0)!;
        release.SetResult();
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 200);
        await run.StopAsync();

        metadata.Length.Should().BeLessThanOrEqualTo(24);
        OffsetGapCodec.TryDecode(metadata, out var watermark, out var finished, out _).Should().BeTrue();
        watermark.Should().Be(0);
        finished.Should().NotBeEmpty().And.BeInAscendingOrder().And.OnlyContain(o => o >= 1 && o < 200, "a subset of what finished, lowest first");
        finished[0].Should().Be(1);
    }

    [Fact]
    public async Task PartitionPausedBehindTheEnginesBack_IsReportedAsStalledAndResumed()
    {
        await using var run = EngineRun.Start(stallThreshold: TimeSpan.FromMilliseconds(300));
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 3);

        // A pause the engine does not know of (what librdkafka's pause surviving a reassignment looked like).
        run.Kafka.Events.Enqueue(c => c.Pause([P0]));
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("pause 0"));
        run.Kafka.AddRecords(P0, 3);
        var reported = false;
        await run.UntilAsync(() => (reported |= run.Engine.StalledPartitions.ContainsKey(P0)) && run.Handler.Completed.Count == 6);
        await run.UntilAsync(() => run.Engine.StalledPartitions.Count == 0);
        await run.StopAsync();

        reported.Should().BeTrue("the partition fetched nothing while records waited");
        run.Kafka.Timeline.SkipWhile(e => e != "pause 0").Should().Contain("resume 0");
        run.Handler.Completed.Select(r => r.Offset).Should().Equal(0, 1, 2, 3, 4, 5);
    }

    [Fact]
    public async Task IntervalCommit_SlowCoordinator_DoesNotHoldUpARebalance()
    {
        await using var run = EngineRun.Start(o => o.CommitInterval = TimeSpan.FromMilliseconds(20));
        run.Kafka.CommitLatency = TimeSpan.FromSeconds(3);
        run.Kafka.AddRecords(P0, 5);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 5 && run.Kafka.Timeline.Any(e => e.StartsWith("commit sent", StringComparison.Ordinal)));

        var watch = Stopwatch.StartNew();
        run.Kafka.Revoke(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("revoke begin 0"));
        var served = watch.Elapsed;
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("revoke end 0"));

        served.Should().BeLessThan(TimeSpan.FromSeconds(1), "an interval commit waiting for a slow coordinator does not block the poll thread");
    }

    [Fact]
    public async Task IntervalCommit_ResultArrivesLater_IsRecordedAndNotSentAgain()
    {
        await using var run = EngineRun.Start(o => o.CommitInterval = TimeSpan.FromMilliseconds(20));
        run.Kafka.CommitLatency = TimeSpan.FromMilliseconds(300);
        run.Kafka.AddRecords(P0, 5);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 5);
        await Task.Delay(500);
        await run.StopAsync();

        run.Kafka.Timeline.Count(e => e == "commit sent 0@5").Should().Be(1, "once its result came, the offset counts as committed");
    }

    [Fact]
    public async Task Shutdown_HandlerIgnoresCancellation_TheWholeStopKeepsToShutdownTimeoutAndLeavesTheGroup()
    {
        await using var run = EngineRun.Start(
            o => o.ShutdownTimeout = TimeSpan.FromSeconds(4),
            async (record, _) => await Task.Delay(record.Offset.Value == 1 ? TimeSpan.FromSeconds(15) : TimeSpan.Zero, CancellationToken.None));
        run.Kafka.AddRecords(P0, 3, offset => $"k{offset}");
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Started.Contains((0, 1)) && run.Handler.Completed.Count == 2);

        var watch = Stopwatch.StartNew();
        await run.StopAsync();

        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5), "ShutdownTimeout (4 s) bounds the whole stop: the revocation inside Close does not wait for the handler again");
        run.Kafka.Timeline.Should().ContainInOrder("close", "revoke begin 0", "revoke end 0", "closed", "dispose");
        run.Kafka.Committed(P0).Should().Be(1, "what finished below the stuck record was committed");
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    /// <summary>An engine running on a fake consumer with a scripted handler.</summary>
    /// <summary>
    /// Blocks until the token fires and then reports it. Not a token registration: its callback can be unregistered
    /// before it runs when the delay's continuation runs inline inside Cancel().
    /// </summary>
    private static async Task WaitForCancellationAsync(TaskCompletionSource cancelled, CancellationToken token)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, token);
        }
        catch (OperationCanceledException)
        {
            cancelled.TrySetResult();
            throw;
        }
    }
}
