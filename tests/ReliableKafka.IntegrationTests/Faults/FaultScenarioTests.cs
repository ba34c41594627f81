using Confluent.Kafka;
using ReliableKafka.Testing;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Faults;

/// <summary>
/// The fault-injection suite: each scenario injects its faults on a seeded schedule while records are produced and
/// consumed, then checks L (no loss), D (no duplicate side effects; the consumers deduplicate), O (per-key order,
/// one handler per key at a time) and C (commit safety) and prints one line. <c>./build.sh faults</c> runs it
/// alone; RELIABLEKAFKA_FAULT_SEED replays a seed. The scenarios run one at a time (their own collection, and a run
/// of their own in build.sh), so that their timing does not depend on other tests.
/// </summary>
[Trait("Category", "Faults")]
[Collection(nameof(FaultScenarioTests))]
public sealed class FaultScenarioTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Settle = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task LeaderBrokerBounce_FiveTimesWhileProducingAndConsuming()
    {
        await FaultRun.RunAsync("leader-bounce", 101, output, async run =>
        {
            var leaders = SpreadLeaders(run);
            run.StartMember();
            run.StartMember();
            var producing = run.ProduceAsync(4000, TimeSpan.FromSeconds(10));
            for (var i = 0; i < 5; i++)
            {
                await Task.Delay(run.Random.Next(800, 1500));
                var down = run.Random.Next(1, 4);
                var to = (down % 3) + 1;
                var pause = run.Random.Next(300, 800);
                await run.FaultAsync($"broker {down} down, its partitions' leadership to broker {to}, up again after {pause} ms", async () =>
                {
                    run.Cluster!.SetBrokerDown(down);
                    foreach (var partition in leaders.Where(l => l.Value == down).Select(l => l.Key).ToList())
                    {
                        run.Cluster.SetPartitionLeader(run.Topic, partition, to);
                        leaders[partition] = to;
                    }

                    await Task.Delay(pause);
                    run.Cluster.SetBrokerUp(down);
                });
            }

            await producing;
            await run.WaitForAllAsync(Settle);
            await run.FinishAsync(expectRedeliveries: false);
        });
    }

    [Fact]
    public async Task LeaderMovesEvery200Milliseconds_WhileProducing()
    {
        await FaultRun.RunAsync("leader-moves", 102, output, async run =>
        {
            run.StartMember();
            var producing = run.ProduceAsync(4000, TimeSpan.FromSeconds(6));
            while (!producing.IsCompleted)
            {
                var (partition, broker) = (run.Random.Next(FaultRun.Partitions), run.Random.Next(1, 4));
                run.Fault($"partition {partition} leader to broker {broker}", () => run.Cluster!.SetPartitionLeader(run.Topic, partition, broker));
                await Task.Delay(run.Random.Next(150, 250));
            }

            await producing;
            await run.WaitForAllAsync(Settle);
            await run.FinishAsync(expectRedeliveries: false);
        });
    }

    [Fact]
    public async Task RetriableProduceErrors_NotLeaderRequestTimedOutNotEnoughReplicas()
    {
        await FaultRun.RunAsync("produce-errors", 103, output, async run =>
        {
            run.StartMember();
            ErrorCode[] retriable = [ErrorCode.NotLeaderForPartition, ErrorCode.RequestTimedOut, ErrorCode.NotEnoughReplicas];
            var producing = run.ProduceAsync(4000, TimeSpan.FromSeconds(6));
            while (!producing.IsCompleted)
            {
                var errors = Enumerable.Range(0, run.Random.Next(1, 4)).Select(_ => retriable[run.Random.Next(retriable.Length)]).ToArray();
                run.Fault($"next {errors.Length} produce request(s) fail: {string.Join(", ", errors)}", () => run.Cluster!.InjectRequestErrors(KafkaApi.Produce, errors));
                await Task.Delay(run.Random.Next(200, 400));
            }

            await producing;
            await run.WaitForAllAsync(Settle);
            await run.FinishAsync(expectRedeliveries: false);
        });
    }

    [Fact]
    public async Task AckLostAfterWrite_ThenLeaderDownAndUp()
    {
        await FaultRun.RunAsync("ack-lost", 104, output, async run =>
        {
            var leaders = SpreadLeaders(run);
            run.StartMember();
            var producing = run.ProduceAsync(4000, TimeSpan.FromSeconds(8));
            for (var i = 0; i < 3; i++)
            {
                await Task.Delay(run.Random.Next(800, 1500));
                var broker = run.Random.Next(1, 4);
                var to = (broker % 3) + 1;
                run.Fault($"broker {broker}: next 3 produce requests written, answered after 2 s", () => run.Cluster!.InjectRequestErrors(
                    broker, KafkaApi.Produce, [.. Enumerable.Repeat(new InjectedError(ErrorCode.NoError, TimeSpan.FromSeconds(2)), 3)]));
                await Task.Delay(500);
                await run.FaultAsync($"broker {broker} down before answering, its partitions to broker {to}, up again after 1 s", async () =>
                {
                    run.Cluster!.SetBrokerDown(broker);
                    foreach (var partition in leaders.Where(l => l.Value == broker).Select(l => l.Key).ToList())
                    {
                        run.Cluster.SetPartitionLeader(run.Topic, partition, to);
                        leaders[partition] = to;
                    }

                    await Task.Delay(1000);
                    run.Cluster.SetBrokerUp(broker);
                });
            }

            await producing;
            await run.WaitForAllAsync(Settle);
            await run.FinishAsync(expectRedeliveries: false);
        });
    }

    [Fact]
    public async Task ConsumerCrashes_TenTimesWithTwoOrThreeMembers()
    {
        await FaultRun.RunAsync("consumer-crash", 105, output, async run =>
        {
            TakeTime(run);
            for (var i = 0; i < 3; i++)
            {
                run.StartMember(SlowHandlers);
            }

            var producing = run.ProduceAsync(3000, TimeSpan.FromSeconds(12));
            for (var i = 0; i < 10; i++)
            {
                await Task.Delay(run.Random.Next(700, 1300));
                await run.CrashAsync(await run.BusyMemberAsync());
                if (run.Members.Count < 2 || run.Random.Next(2) == 0)
                {
                    run.StartMember(SlowHandlers);
                }
            }

            run.StartMember(SlowHandlers);
            await producing;
            await run.WaitForAllAsync(Settle);
            await run.FinishAsync(expectRedeliveries: true);
        }, needsFaultInjection: false);
    }

    [Fact]
    public async Task GracefulMembershipChurn_TenTimes()
    {
        await FaultRun.RunAsync("churn", 106, output, async run =>
        {
            TakeTime(run);
            for (var i = 0; i < 3; i++)
            {
                run.StartMember(SlowHandlers);
            }

            var producing = run.ProduceAsync(3000, TimeSpan.FromSeconds(12));
            for (var i = 0; i < 10; i++)
            {
                await Task.Delay(run.Random.Next(500, 1000));
                var leaving = run.Members[run.Random.Next(run.Members.Count)];
                await run.FaultAsync($"{leaving.Name} leaves (Close), a new member joins", async () =>
                {
                    await run.StopAsync(leaving);
                    run.StartMember(SlowHandlers);
                });
            }

            await producing;
            await run.WaitForAllAsync(Settle);
            await run.FinishAsync(expectRedeliveries: false);
        }, needsFaultInjection: false);
    }

    [Fact]
    public async Task HandlerStalledWhileItsMemberIsEvicted_TheLateResultIsNotCommittedTwice()
    {
        await FaultRun.RunAsync("stalled-handler", 107, output, async run =>
        {
            var stalled = new HashSet<string>();
            run.Behavior.Stall = message =>
            {
                lock (stalled)
                {
                    // The first record of three keys stalls for 7 s (beyond its 5 s lease), ignoring cancellation.
                    return message.Seq == 1 && stalled.Count < 3 && stalled.Add(message.Id) ? Task.Delay(TimeSpan.FromSeconds(7)) : null;
                }
            };
            run.StartMember();
            run.StartMember();
            var producing = run.ProduceAsync(2000, TimeSpan.FromSeconds(6));
            await Task.Delay(1500);
            run.Fault("the group forgets its members (heartbeats answered UNKNOWN_MEMBER_ID): partitions lost while handlers stall", () =>
                run.Cluster!.InjectRequestErrors(KafkaApi.Heartbeat, [.. Enumerable.Repeat(ErrorCode.UnknownMemberId, 4)]));
            await producing;
            await run.WaitForAllAsync(Settle);
            await run.FinishAsync(expectRedeliveries: true);
        });
    }

    [Fact]
    public async Task OffsetCommitErrorsThenACrash()
    {
        await FaultRun.RunAsync("commit-errors", 108, output, async run =>
        {
            TakeTime(run);
            run.Cluster!.SetCoordinator(CoordinatorType.Group, run.Group, 1);
            run.StartMember(SlowHandlers);
            run.StartMember(SlowHandlers);
            var producing = run.ProduceAsync(3000, TimeSpan.FromSeconds(10));
            ErrorCode[] errors = [ErrorCode.RebalanceInProgress, ErrorCode.NotCoordinatorForGroup, ErrorCode.GroupLoadInProgress];
            for (var i = 0; i < 3; i++)
            {
                await Task.Delay(run.Random.Next(800, 1200));
                var injected = Enumerable.Range(0, 3).Select(_ => errors[run.Random.Next(errors.Length)]).ToArray();
                run.Fault($"next OffsetCommits fail: {string.Join(", ", injected)}", () => run.Cluster.InjectRequestErrors(KafkaApi.OffsetCommit, injected));
                await Task.Delay(300);
                run.Fault("next 2 OffsetCommits to the coordinator (broker 1) fail with transport errors (NETWORK_EXCEPTION after 300 ms)", () =>
                    run.Cluster.InjectRequestErrors(1, KafkaApi.OffsetCommit, [.. Enumerable.Repeat(new InjectedError(ErrorCode.NetworkException, TimeSpan.FromMilliseconds(300)), 2)]));
                await Task.Delay(300);
                await run.CrashAsync(await run.BusyMemberAsync());
                run.StartMember(SlowHandlers);
            }

            await producing;
            await run.WaitForAllAsync(Settle);
            await run.FinishAsync(expectRedeliveries: true);
        });
    }

    [Fact]
    public async Task GroupCoordinatorMoved_OldOneDown()
    {
        await FaultRun.RunAsync("coordinator-move", 109, output, async run =>
        {
            run.Cluster!.SetCoordinator(CoordinatorType.Group, run.Group, 1);
            run.StartMember();
            run.StartMember();
            var producing = run.ProduceAsync(3000, TimeSpan.FromSeconds(10));
            var coordinator = 1;
            for (var i = 0; i < 2; i++)
            {
                await Task.Delay(run.Random.Next(1500, 2500));
                var (old, next) = (coordinator, (coordinator % 3) + 1);
                coordinator = next;
                await run.FaultAsync($"group coordinator moves from broker {old} to {next}, broker {old} down for 1.5 s", async () =>
                {
                    run.Cluster.SetCoordinator(CoordinatorType.Group, run.Group, next);
                    run.Cluster.SetBrokerDown(old);
                    await Task.Delay(1500);
                    run.Cluster.SetBrokerUp(old);
                });
            }

            await producing;
            await run.WaitForAllAsync(Settle);
            await run.FinishAsync(expectRedeliveries: false);
        });
    }

    [Fact]
    public async Task TransportErrorsOnFetchHeartbeatAndMetadata()
    {
        await FaultRun.RunAsync("transport-errors", 110, output, async run =>
        {
            run.StartMember();
            run.StartMember();
            var producing = run.ProduceAsync(3000, TimeSpan.FromSeconds(8));
            KafkaApi[] apis = [KafkaApi.Fetch, KafkaApi.Heartbeat, KafkaApi.Metadata];
            while (!producing.IsCompleted)
            {
                var api = apis[run.Random.Next(apis.Length)];
                var count = run.Random.Next(1, 4);
                run.Fault($"next {count} {api} request(s) fail with NETWORK_EXCEPTION", () => run.Cluster!.InjectRequestErrors(api, [.. Enumerable.Repeat(ErrorCode.NetworkException, count)]));
                await Task.Delay(run.Random.Next(200, 400));
            }

            await producing;
            await run.WaitForAllAsync(Settle);
            await run.FinishAsync(expectRedeliveries: false);
        });
    }

    [Fact]
    public async Task PoisonAndTransientFailures_WithACrashMidRetry_DeadLetterTopicHoldsExactlyThePoisonOnce()
    {
        await FaultRun.RunAsync("poison-retry-crash", 111, output, async run =>
        {
            var retrying = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var transientSeed = run.Seed;
            run.Behavior.FailsFirstAttempt = message =>
            {
                var fails = (uint)HashCode.Combine(message.Id, transientSeed) % 100 < 5;
                if (fails && run.World.ProcessedCount > 500)
                {
                    retrying.TrySetResult();
                }

                return fails;
            };

            // Retries wait 300 ms and more, so that the crash below lands while a record waits for its retry.
            static void SlowRetries(ConsumerOptions o)
            {
                o.Retry.InitialDelay = TimeSpan.FromMilliseconds(300);
                o.Retry.MaxDelay = TimeSpan.FromMilliseconds(600);
            }

            run.StartMember(SlowRetries);
            run.StartMember(SlowRetries);
            var producing = run.ProduceAsync(3000, TimeSpan.FromSeconds(8), poisonRate: 0.01);
            await retrying.Task.WaitAsync(TimeSpan.FromMinutes(1));
            await run.CrashAsync(run.Members[0]);
            run.StartMember(SlowRetries);
            await producing;
            await run.WaitForAllAsync(Settle);
            await run.FinishAsync(expectRedeliveries: true, report => run.Behavior.TransientFailures.Should().BeGreaterThan(50));
        }, needsFaultInjection: false);
    }

    [Fact]
    public async Task RedrivenPoisonUnderBackpressureAndEagerRebalances_EachFailedDeliveryDeadLetteredAndEveryPartitionProgresses()
    {
        await FaultRun.RunAsync("redrive-backpressure", 112, output, async run =>
        {
            // Slow handlers and a small buffer keep partitions paused for backpressure most of the time; eager assignment
            // revokes every partition at each rebalance and often hands it back to the same member.
            static void Configure(ConsumerOptions o)
            {
                o.MaxBufferedRecords = 16;
                o.MaxConcurrency = 4;
                o.PartitionAssignmentStrategy = PartitionAssignmentStrategy.Range;
            }

            // About 200 records/s per member against 500 produced per second: a backlog, so the buffer stays full.
            run.Behavior.Stall = _ => Task.Delay(20);
            run.WatchProgress(TimeSpan.FromSeconds(20));
            run.StartMember(Configure);
            run.StartMember(Configure);
            var producing = run.ProduceAsync(3000, TimeSpan.FromSeconds(6), poisonRate: 0.01);
            for (var i = 0; i < 6; i++)
            {
                await Task.Delay(run.Random.Next(800, 1500));
                if (i % 2 == 0)
                {
                    run.Fault("a third member joins (eager rebalance: every partition revoked, most handed back)", () => run.StartMember(Configure));
                }
                else
                {
                    await run.FaultAsync("the third member leaves gracefully (another eager rebalance)", () => run.StopAsync(run.Members[^1]));
                }

                if (i == 2)
                {
                    await run.FaultAsync("redrive: the poison records dead-lettered so far go back to the topic, and fail again", () => run.RedriveAsync());
                }
            }

            await producing;
            await run.WaitForAllAsync(Settle);

            // Every poison record is dead-lettered by now: send them all back while membership churns again.
            await run.FaultAsync("redrive after every record was handled or dead-lettered", () => run.RedriveAsync());
            run.Fault("a third member joins while the redriven copies arrive", () => run.StartMember(Configure));
            await Task.Delay(run.Random.Next(300, 800));
            await run.FaultAsync("the third member leaves gracefully", () => run.StopAsync(run.Members[^1]));
            await run.WaitForAllAsync(Settle);
            await run.FinishAsync(expectRedeliveries: false);
        }, needsFaultInjection: false);
    }

    /// <summary>At most 4 handlers at once per member (with <see cref="TakeTime"/>, a crash finds work in flight).</summary>
    private static void SlowHandlers(ConsumerOptions options) => options.MaxConcurrency = 4;

    /// <summary>Handlers take about 2 ms, so that records finish between commits and a crash leaves some to redeliver.</summary>
    private static void TakeTime(FaultRun run) => run.Behavior.Stall = _ => Task.Delay(2);

    /// <summary>Gives partition p to broker (p mod 3) + 1, so the schedule knows each partition's leader.</summary>
    private static Dictionary<int, int> SpreadLeaders(FaultRun run)
    {
        var leaders = new Dictionary<int, int>();
        for (var p = 0; p < FaultRun.Partitions; p++)
        {
            leaders[p] = (p % 3) + 1;
            run.Cluster!.SetPartitionLeader(run.Topic, p, leaders[p]);
        }

        return leaders;
    }
}
