using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Consuming;

public sealed class ReliableConsumerTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestKafka _kafka = TestKafka.Start();
    private readonly HandlerProbe _probe = new();

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task Consumer_RoundTrip_HandlesEveryRecordOnceInOrderAndCommitsTheEndOffsets()
    {
        var topic = _kafka.CreateTopic("round-trip", 4);
        var group = TestKafka.Unique("group");
        var produced = await ProduceAsync(topic, count: 400, keys: 20);
        using var host = BuildHost(topic, group);

        await host.StartAsync();
        await Eventually.UntilAsync(() => _probe.Handled.Count >= 400, "all 400 records are handled");
        await host.StopAsync();

        var handled = _probe.Handled.ToList();
        handled.Should().HaveCount(400);
        handled.Select(r => (r.Partition, r.Offset)).Should().OnlyHaveUniqueItems("each record is handled once");
        foreach (var key in handled.GroupBy(r => r.Key))
        {
            key.Select(r => r.Offset).Should().BeInAscendingOrder($"records of key {key.Key} are handled in offset order");
            key.Select(r => int.Parse(r.Value, CultureInfo.InvariantCulture)).Should().BeInAscendingOrder($"key {key.Key} keeps its production order");
        }

        _probe.MaxConcurrentPerKey.Should().Be(1, "a key's records run one at a time");
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 4).Should().BeEquivalentTo(KafkaClients.EndOffsets(produced, 4));
    }

    [Fact]
    public async Task Consumer_Handler_IsResolvedInANewScopePerRecordThatIsDisposedAfterIt()
    {
        var topic = _kafka.CreateTopic("scopes", 1);
        var group = TestKafka.Unique("group");
        await ProduceAsync(topic, count: 5, keys: 1);
        var scopes = new System.Collections.Concurrent.ConcurrentQueue<ScopedDependency>();
        using var host = TestHost.Build(output, services =>
        {
            services.AddSingleton(scopes);
            services.AddScoped<ScopedDependency>();
            services.AddReliableKafka(o => o.BootstrapServers = _kafka.BootstrapServers)
                .AddConsumer<string, string, ScopedHandler>("scoped", o =>
                {
                    o.GroupId = group;
                    o.Topics.Add(topic);
                    TestHost.FastGroup(o);
                });
        });

        await host.StartAsync();
        await Eventually.UntilAsync(() => scopes.Count == 5 && scopes.All(s => s.Disposed), "five records handled, each in its own scope");
        await host.StopAsync();

        scopes.Select(s => s.Id).Should().OnlyHaveUniqueItems();
    }

    [Fact]
    public async Task Consumer_RecordsFromTheReliableProducer_SeeTheProducersMessageIds()
    {
        var topic = _kafka.CreateTopic("ids", 2);
        var group = TestKafka.Unique("group");
        using var host = BuildHost(topic, group, configureKafka: b => b.AddProducer<string, string>());
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();

        var results = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => producer.ProduceAsync(topic, $"k{i}", $"v{i}")));
        await Eventually.UntilAsync(() => _probe.Handled.Count == 10, "the 10 records are handled");
        await host.StopAsync();

        _probe.Handled.Select(r => r.MessageId).Should().BeEquivalentTo(results.Select(r => r.MessageId));
    }

    [Fact]
    public async Task Consumer_KilledAfterHandlerBeforeCommit_NewConsumerInTheGroupGetsTheRecordsAgain()
    {
        var topic = _kafka.CreateTopic("crash", 1);
        var group = TestKafka.Unique("group");
        await ProduceAsync(topic, count: 5, keys: 1);
        using var first = BuildHost(topic, group, o => o.CommitInterval = TimeSpan.FromHours(1));
        await first.StartAsync();
        await Eventually.UntilAsync(() => _probe.Handled.Count == 5, "the first consumer handles the 5 records");

        await (await Engine(first)).CrashAsync();
        var committedAfterCrash = KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0];
        var secondProbe = new HandlerProbe();
        using var second = BuildHost(topic, group, probe: secondProbe);
        await second.StartAsync();
        await Eventually.UntilAsync(() => secondProbe.Handled.Count == 5, "the new member handles the uncommitted records again");
        await second.StopAsync();
        await first.StopAsync();

        committedAfterCrash.Should().Be(Offset.Unset.Value, "the handlers finished but the commit interval had not come");
        secondProbe.Handled.Select(r => r.Offset).Should().Equal(0, 1, 2, 3, 4);
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0].Should().Be(5);
    }

    [Fact]
    public async Task Consumer_HandlerThrowsUnderPausePartition_CommitsStopBelowTheFailedRecordAndOnlyItsPartitionPauses()
    {
        var topic = _kafka.CreateTopic("failing", 2);
        var group = TestKafka.Unique("group");
        await ProduceToPartitionAsync(topic, 0, 6);
        await ProduceToPartitionAsync(topic, 1, 6);
        _probe.Behavior = (context, _) => context.Partition.Value == 0 && context.Offset.Value == 2
            ? throw new InvalidOperationException("cannot handle this one")
            : Task.CompletedTask;
        using var host = BuildHost(
            topic,
            group,
            o =>
            {
                o.FailurePolicy = FailurePolicy.PausePartition;
                o.Retry.MaxAttempts = 1;
            },
            configureKafka: kafka => kafka.Services.AddHealthChecks().AddReliableKafka());

        await host.StartAsync();
        await Eventually.UntilAsync(() => _probe.Handled.Count(r => r.Partition == 1) == 6, "partition 1 is handled completely");
        await Eventually.UntilAsync(
            () => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2) is { } c && c[0] == 2 && c[1] == 6,
            "partition 0 is committed up to the failed record, partition 1 to its end");
        await Task.Delay(TimeSpan.FromSeconds(1)); // several commit intervals and polls pass
        var report = await host.Services.GetRequiredService<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService>().CheckHealthAsync();
        await host.StopAsync();

        report.Status.Should().Be(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded);
        report.Entries["reliablekafka"].Description.Should().Contain($"stopped by failed records: {topic} [0] (InvalidOperationException: cannot handle this one)");
        _probe.Attempts.Where(r => r.Partition == 0).Select(r => r.Offset).Should().Equal([0, 1, 2], "records after the failure are not handled");
        _probe.Handled.Where(r => r.Partition == 0).Select(r => r.Offset).Should().Equal(0, 1);
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2).Should().BeEquivalentTo(new Dictionary<int, long> { [0] = 2, [1] = 6 });
    }

    [Fact]
    public async Task Consumer_PartitionsMoveToANewMember_ItResumesExactlyWhereTheOldOneCommittedAndNothingIsLost()
    {
        var topic = _kafka.CreateTopic("rebalance", 4);
        var group = TestKafka.Unique("group");
        var produced = await ProduceAsync(topic, count: 40, keys: 8);
        var ends = KafkaClients.EndOffsets(produced, 4);
        using var first = BuildHost(topic, group, o => o.CommitInterval = TimeSpan.FromHours(1));
        await first.StartAsync();
        await Eventually.UntilAsync(() => _probe.Handled.Count == 40, "the first member handles everything");

        var secondProbe = new HandlerProbe();
        using var second = BuildHost(topic, group, o => o.CommitInterval = TimeSpan.FromHours(1), secondProbe);
        await second.StartAsync();
        var (firstEngine, secondEngine) = (await Engine(first), await Engine(second));
        await Eventually.UntilAsync(() => firstEngine.Assignment.Count > 0 && secondEngine.Assignment.Count > 0, "the group is rebalanced over both members");
        var moved = secondEngine.Assignment.Select(p => p.Partition.Value).ToList();
        var committed = KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 4);
        var resumeAt = moved.ToDictionary(p => p, p => Math.Max(committed[p], 0));
        await Eventually.UntilAsync(
            () => moved.All(p => secondProbe.Handled.Count(r => r.Partition == p) == ends[p] - resumeAt[p]),
            "the new member handles what the old one left uncommitted");
        await second.StopAsync();
        await first.StopAsync();

        // The old member commits finished work when the partitions are revoked; a coordinator may refuse
        // commits while the group is joining (the embedded cluster does, where Kafka 2.4+ accepts them), and
        // then the new member handles those records again: at least once, never lost, never skipped. Records of
        // different keys run in parallel, so a partition's records finish in any order; each is handled once.
        foreach (var partition in moved)
        {
            secondProbe.Handled.Where(r => r.Partition == partition).Select(r => r.Offset).Order()
                .Should().Equal(Enumerable.Range((int)resumeAt[partition], (int)(ends[partition] - resumeAt[partition])).Select(o => (long)o),
                    $"partition {partition} resumes at the committed offset {resumeAt[partition]}");
        }

        secondProbe.Handled.Select(r => r.Partition).Distinct().Should().BeSubsetOf(moved, "only moved partitions change hands");
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 4).Should().BeEquivalentTo(ends, "both members committed everything when they stopped");
    }

    [Fact]
    public async Task Consumer_GracefulStop_CommitsWhatFinishedBeforeLeaving()
    {
        var topic = _kafka.CreateTopic("graceful", 2);
        var group = TestKafka.Unique("group");
        var produced = await ProduceAsync(topic, count: 20, keys: 4);
        using var host = BuildHost(topic, group, o => o.CommitInterval = TimeSpan.FromHours(1));
        await host.StartAsync();
        await Eventually.UntilAsync(() => _probe.Handled.Count == 20, "all records are handled");
        var committedBeforeStop = KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2);

        await host.StopAsync();

        committedBeforeStop.Values.Should().OnlyContain(o => o == Offset.Unset.Value);
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2).Should().BeEquivalentTo(KafkaClients.EndOffsets(produced, 2));
    }

    [Fact]
    public async Task Consumer_StopWhileAHandlerRuns_WaitsForItThenCommitsIt()
    {
        var topic = _kafka.CreateTopic("slow-stop", 1);
        var group = TestKafka.Unique("group");
        await ProduceAsync(topic, count: 3, keys: 1);
        var started = new TaskCompletionSource();
        _probe.Behavior = async (context, token) =>
        {
            if (context.Offset.Value == 2)
            {
                started.TrySetResult();
                await Task.Delay(TimeSpan.FromSeconds(1.5), token);
            }
        };
        using var host = BuildHost(topic, group, o => o.CommitInterval = TimeSpan.FromHours(1));
        await host.StartAsync();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));

        await host.StopAsync();

        _probe.Handled.Select(r => r.Offset).Should().Equal(0, 1, 2);
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0].Should().Be(3);
    }

    [Fact]
    public async Task Consumer_HandlerOutlivesShutdownTimeout_IsCancelledAndItsRecordIsNotCommitted()
    {
        var topic = _kafka.CreateTopic("stuck", 1);
        var group = TestKafka.Unique("group");
        await ProduceAsync(topic, count: 2, keys: 1);
        var cancelled = new TaskCompletionSource();
        _probe.Behavior = async (context, token) =>
        {
            if (context.Offset.Value == 1)
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
        };
        using var host = BuildHost(topic, group, o =>
        {
            o.CommitInterval = TimeSpan.FromHours(1);
            o.ShutdownTimeout = TimeSpan.FromMilliseconds(500);
        });
        await host.StartAsync();
        await Eventually.UntilAsync(() => _probe.Attempts.Count == 2, "the second record's handler is running");

        await host.StopAsync();

        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0].Should().Be(1, "the first record finished; the second was abandoned");
    }

    [Fact]
    public async Task Consumer_AtMostOnce_CommitsARecordBeforeItsHandlerRunsAndDoesNotRetryFailures()
    {
        var topic = _kafka.CreateTopic("at-most-once", 1);
        var group = TestKafka.Unique("group");
        await ProduceAsync(topic, count: 3, keys: 1);
        var release = new TaskCompletionSource();
        var committedWhileRunning = new TaskCompletionSource<long>();
        _probe.Behavior = async (context, _) =>
        {
            if (context.Offset.Value == 0)
            {
                committedWhileRunning.SetResult(KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0]);
                await release.Task;
            }

            if (context.Offset.Value == 1)
            {
                throw new InvalidOperationException("lost, as at-most-once allows");
            }
        };
        using var host = BuildHost(topic, group, o =>
        {
            o.DeliveryGuarantee = DeliveryGuarantee.AtMostOnce;
            o.CommitInterval = TimeSpan.FromHours(1);
        });
        await host.StartAsync();

        var committed = await committedWhileRunning.Task.WaitAsync(TimeSpan.FromSeconds(30));
        release.SetResult();
        await Eventually.UntilAsync(() => _probe.Attempts.Count == 3, "all three records were handed to the handler");
        await host.StopAsync();

        committed.Should().BeGreaterThanOrEqualTo(1, "the offset was committed before the handler ran");
        _probe.Handled.Select(r => r.Offset).Should().Equal(0, 2);
        _probe.Attempts.Select(r => r.Offset).Should().Equal(0, 1, 2);
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0].Should().Be(3);
    }

    [Fact]
    public async Task Consumer_RecordThatCannotBeDeserializedUnderPausePartition_PausesItsPartitionAndPollingGoesOn()
    {
        var topic = _kafka.CreateTopic("poison", 2);
        var group = TestKafka.Unique("group");
        using (var producer = KafkaClients.Producer(_kafka.BootstrapServers))
        {
            await producer.ProduceAsync(new TopicPartition(topic, 0), new Message<string, string> { Key = "a", Value = """{"orderId":"o1","amount":1}""" });
            await producer.ProduceAsync(new TopicPartition(topic, 0), new Message<string, string> { Key = "a", Value = "not json" });
            await producer.ProduceAsync(new TopicPartition(topic, 0), new Message<string, string> { Key = "a", Value = """{"orderId":"o3","amount":3}""" });
            await producer.ProduceAsync(new TopicPartition(topic, 1), new Message<string, string> { Key = "b", Value = """{"orderId":"o4","amount":4}""" });
        }

        var orders = new OrderLog();
        using var host = TestHost.Build(output, services =>
        {
            services.AddSingleton(orders);
            services.AddReliableKafka(o => o.BootstrapServers = _kafka.BootstrapServers)
                .AddConsumer<string, Order, OrderHandler>("orders", o =>
                {
                    o.GroupId = group;
                    o.Topics.Add(topic);
                    o.FailurePolicy = FailurePolicy.PausePartition;
                    TestHost.FastGroup(o);
                });
        });
        await host.StartAsync();
        await Eventually.UntilAsync(
            () => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2) is { } c && c[0] == 1 && c[1] == 1,
            "partition 0 is committed up to the bad record and partition 1 completely");
        await host.StopAsync();

        orders.Ids.Should().BeEquivalentTo("o1", "o4");
    }

    [Theory]
    [InlineData(OrderingMode.Key)]
    [InlineData(OrderingMode.Partition)]
    public async Task Consumer_SlowHandlerAndLargeBacklog_KeepsBufferedRecordsAtTheLimitStaysInTheGroupAndLosesNothing(OrderingMode mode)
    {
        // Handlers slower than the engine's hold-off (250 ms) with a backlog many times the buffer: the buffer stays
        // full, so partitions must be paused, and records the engine refused must come again.
        var topic = _kafka.CreateTopic("backlog", 4);
        var group = TestKafka.Unique("group");
        await ProduceAsync(topic, count: 60, keys: 10);
        _probe.Behavior = (_, token) => Task.Delay(300, token);
        var logs = new LogCapture();
        using var host = BuildHost(topic, group, o => { o.MaxBufferedRecords = 8; o.OrderingMode = mode; }, logs: logs);
        await host.StartAsync();
        var engine = await Engine(host);
        await Eventually.UntilAsync(() => engine.Assignment.Count == 4, "the member owns every partition");
        var maxBuffered = 0;
        var smallestAssignment = 4;

        var deadline = Stopwatch.StartNew();
        while (_probe.Handled.Count < 60)
        {
            deadline.Elapsed.Should().BeLessThan(TimeSpan.FromMinutes(1), "every record is handled eventually ({0} so far)", _probe.Handled.Count);
            maxBuffered = Math.Max(maxBuffered, engine.BufferedRecords);
            smallestAssignment = Math.Min(smallestAssignment, engine.Assignment.Count);
            await Task.Delay(2);
        }

        var logsBeforeStop = logs.Entries.ToList();
        await host.StopAsync();
        output.WriteLine($"max buffered: {maxBuffered}");
        logsBeforeStop.Should().Contain(e => e.EventId == 2013, "the handlers are too slow to drain the buffer, so partitions are paused");
        maxBuffered.Should().BeGreaterThan(0).And.BeLessThanOrEqualTo(8, "fetching pauses once the buffer is full");
        smallestAssignment.Should().Be(4, "backpressure pauses partitions; it never leaves the group");
        logsBeforeStop.Where(e => e.EventId is 2004 or 2005).Should().BeEmpty("no partition was revoked or lost while paused");
        var handled = _probe.Handled.ToList();
        handled.Select(r => (r.Partition, r.Offset)).Should().OnlyHaveUniqueItems("resuming neither repeats records")
            .And.HaveCount(60, "nor skips any");
        foreach (var key in handled.GroupBy(r => r.Key))
        {
            key.Select(r => r.Offset).Should().BeInAscendingOrder();
        }
    }

    private IHost BuildHost(
        string topic,
        string group,
        Action<ConsumerOptions>? configure = null,
        HandlerProbe? probe = null,
        Action<IReliableKafkaBuilder>? configureKafka = null,
        LogCapture? logs = null) =>
        TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, probe ?? _probe, configure, configureKafka, logs);

    /// <summary>The consumer's engine; it appears shortly after StartAsync (ExecuteAsync runs on the thread pool).</summary>
    private static Task<ConsumerEngine> Engine(IHost host) =>
        Eventually.UntilAsync(
            () => host.Services.GetServices<IHostedService>().OfType<IReliableConsumerService>().Single().Engine,
            "the consumer's engine started");

    /// <summary>Produces <paramref name="count"/> records over <paramref name="keys"/> keys; values are the sequence number.</summary>
    private async Task<List<DeliveryResult<string, string>>> ProduceAsync(string topic, int count, int keys)
    {
        using var producer = KafkaClients.Producer(_kafka.BootstrapServers);
        var results = new List<DeliveryResult<string, string>>();
        for (var i = 0; i < count; i++)
        {
            results.Add(await producer.ProduceAsync(topic, new Message<string, string> { Key = $"key-{i % keys}", Value = i.ToString(CultureInfo.InvariantCulture) }));
        }

        return results;
    }

    private async Task ProduceToPartitionAsync(string topic, int partition, int count)
    {
        using var producer = KafkaClients.Producer(_kafka.BootstrapServers);
        for (var i = 0; i < count; i++)
        {
            await producer.ProduceAsync(new TopicPartition(topic, partition), new Message<string, string> { Key = $"p{partition}", Value = i.ToString(CultureInfo.InvariantCulture) });
        }
    }


    private sealed class ScopedDependency : IDisposable
    {
        public Guid Id { get; } = Guid.NewGuid();

        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }

    private sealed class ScopedHandler(ScopedDependency dependency, System.Collections.Concurrent.ConcurrentQueue<ScopedDependency> seen) : IMessageHandler<string, string>
    {
        public Task HandleAsync(MessageContext<string, string> context, CancellationToken cancellationToken)
        {
            seen.Enqueue(dependency);
            return Task.CompletedTask;
        }
    }
}
