using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.IntegrationTests.Infrastructure;
using ReliableKafka.Testing;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Failures;

/// <summary>Retries, dead-lettering, poison records and StopConsumer on the embedded cluster.</summary>
public sealed class FailureHandlingTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestKafka _kafka = TestKafka.Start();
    private readonly HandlerProbe _probe = new();

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task HandlerFailsTwiceThenSucceeds_IsHandledOnceNothingIsDeadLetteredAndItIsCommitted()
    {
        var topic = _kafka.CreateTopic("flaky", 1);
        var deadLetters = _kafka.CreateNamedTopic(topic + ".dlt", 1);
        var group = TestKafka.Unique("group");
        await ProduceAsync(topic, 5);
        var failures = 0;
        _probe.Behavior = (context, _) => context.Offset.Value == 2 && Interlocked.Increment(ref failures) <= 2
            ? throw new TimeoutException("the database is busy")
            : Task.CompletedTask;
        using var host = BuildHost(topic, group, o => FastRetries(o.Retry));

        await host.StartAsync();
        await Eventually.UntilAsync(() => _probe.Handled.Count == 5, "every record is handled");
        await host.StopAsync();

        _probe.Attempts.Count(r => r.Offset == 2).Should().Be(3);
        _probe.Handled.Select(r => r.Offset).Should().BeEquivalentTo([0, 1, 2, 3, 4]);
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0].Should().Be(5);
        KafkaClients.ReadAll(_kafka.BootstrapServers, deadLetters, 1, TimeSpan.FromSeconds(2)).Should().BeEmpty();
    }

    [Fact]
    public async Task HandlerAlwaysFails_EachFailedRecordIsDeadLetteredOnceWithItsOriginalBytesAndDiagnosticHeaders()
    {
        var topic = _kafka.CreateTopic("failing", 2);
        var deadLetters = _kafka.CreateNamedTopic(topic + ".dlt", 1);
        var group = TestKafka.Unique("group");
        var produced = await ProduceAsync(topic, 20);
        _probe.Behavior = (context, _) => int.Parse(context.Value, CultureInfo.InvariantCulture) % 5 == 0
            ? throw new InvalidOperationException($"order {context.Value} is invalid")
            : Task.CompletedTask;
        using var host = BuildHost(topic, group, o => FastRetries(o.Retry));

        await host.StartAsync();
        await Eventually.UntilAsync(() => _probe.Handled.Count == 16, "the records that do not fail are handled");
        var dead = KafkaClients.ReadAll(_kafka.BootstrapServers, deadLetters, 4);
        var ends = KafkaClients.EndOffsets(produced, 2);
        await Eventually.UntilAsync(
            () => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2).SequenceEqual(ends),
            "every offset is committed once the failed records are dead-lettered");
        await host.StopAsync();

        var sourceTimestamps = KafkaClients.ReadAll(_kafka.BootstrapServers, topic, 20).ToDictionary(r => r.Message.Value, r => r.Message.Timestamp.UnixTimestampMs);
        dead.Should().HaveCount(4);
        KafkaClients.ReadAll(_kafka.BootstrapServers, deadLetters, 5, TimeSpan.FromSeconds(1)).Should().HaveCount(4, "each failed record is dead-lettered once");
        foreach (var record in dead)
        {
            var original = produced.Single(p => p.Message.Value == record.Message.Value);
            int.Parse(record.Message.Value, CultureInfo.InvariantCulture).Should().Match(v => v % 5 == 0);
            record.Message.Key.Should().Be(original.Message.Key);
            Header(record, "my-header").Should().Be($"h{original.Message.Value}", "the original headers are kept");
            Header(record, ReliableKafkaHeaders.DeadLetterOriginalTopic).Should().Be(topic);
            Header(record, ReliableKafkaHeaders.DeadLetterOriginalPartition).Should().Be(original.Partition.Value.ToString(CultureInfo.InvariantCulture));
            Header(record, ReliableKafkaHeaders.DeadLetterOriginalOffset).Should().Be(original.Offset.Value.ToString(CultureInfo.InvariantCulture));
            Header(record, ReliableKafkaHeaders.DeadLetterOriginalTimestamp).Should().Be(sourceTimestamps[original.Message.Value].ToString(CultureInfo.InvariantCulture));
            Header(record, ReliableKafkaHeaders.DeadLetterConsumerGroup).Should().Be(group);
            Header(record, ReliableKafkaHeaders.DeadLetterExceptionType).Should().Be(typeof(InvalidOperationException).FullName);
            Header(record, ReliableKafkaHeaders.DeadLetterExceptionMessage).Should().Be($"order {original.Message.Value} is invalid");
            Header(record, ReliableKafkaHeaders.DeadLetterAttempts).Should().Be("3");
            DateTimeOffset.Parse(Header(record, ReliableKafkaHeaders.DeadLetterFailedAt)!, CultureInfo.InvariantCulture).Should().BeCloseTo(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1));
        }
    }

    [Fact]
    public async Task DeadLetterTopicUnavailable_TheFailedRecordsOffsetIsNotCommittedUntilTheWriteIsAcknowledged()
    {
        // Fault injection needs the embedded cluster, whatever RELIABLEKAFKA_BOOTSTRAP_SERVERS says.
        using var cluster = new EmbeddedKafkaCluster(new EmbeddedKafkaClusterOptions { BrokerCount = 3 });
        var topic = TestKafka.Unique("dlt-down");
        var deadLetters = topic + ".dlt";
        var group = TestKafka.Unique("group");
        cluster.CreateTopic(topic, 1);
        cluster.CreateTopic(deadLetters, 1);
        cluster.SetPartitionLeader(topic, 0, 1);
        cluster.SetPartitionLeader(deadLetters, 0, 2);
        cluster.SetCoordinator(CoordinatorType.Group, group, 1);
        await ProduceAsync(cluster.BootstrapServers, topic, 6);
        _probe.Behavior = (context, _) => context.Offset.Value == 3 ? throw new InvalidOperationException("always") : Task.CompletedTask;
        cluster.SetBrokerDown(2);
        using var host = TestHost.BuildConsumer(
            output,
            cluster.BootstrapServers,
            topic,
            group,
            _probe,
            o =>
            {
                o.Retry.MaxAttempts = 1;
                o.DeadLetter.WriteTimeout = TimeSpan.FromMilliseconds(300);
            },
            kafka => kafka.Services.AddHealthChecks().AddReliableKafka());
        var health = host.Services.GetRequiredService<HealthCheckService>();

        await host.StartAsync();
        await Eventually.UntilAsync(() => _probe.Handled.Count == 5, "the other records are handled");
        var reportWhileDown = await UntilDegradedAsync(health);
        await Task.Delay(TimeSpan.FromSeconds(1)); // several commit intervals while the dead-letter write keeps failing
        var committedWhileDown = KafkaClients.Committed(cluster.BootstrapServers, group, topic, 1)[0];
        cluster.SetBrokerUp(2);
        await Eventually.UntilAsync(
            () => KafkaClients.Committed(cluster.BootstrapServers, group, topic, 1)[0] == 6,
            "the offset moves past the failed record once its dead-letter write is acknowledged");
        var reportAfter = await health.CheckHealthAsync();
        await host.StopAsync();

        reportWhileDown.Status.Should().Be(HealthStatus.Degraded);
        reportWhileDown.Entries["reliablekafka"].Description.Should().Contain("1 failed record(s) wait for a dead-letter write");
        reportAfter.Status.Should().Be(HealthStatus.Healthy);
        committedWhileDown.Should().Be(3, "nothing at or past a record whose dead-letter write is unacknowledged is committed");
        var dead = KafkaClients.ReadAll(cluster.BootstrapServers, deadLetters, 1);
        dead.Should().ContainSingle().Which.Message.Value.Should().Be("3");
    }

    [Fact]
    public async Task PoisonRecords_GoStraightToTheDeadLetterTopicWithTheirBytesIntactAndOthersAreUnaffected()
    {
        var topic = _kafka.CreateTopic("poison", 2);
        var deadLetters = _kafka.CreateNamedTopic(topic + ".dlt", 1);
        var group = TestKafka.Unique("group");
        var poison = new[] { "not json", """{"orderId": 42, "amount": "x"}""" };
        using (var producer = KafkaClients.Producer(_kafka.BootstrapServers))
        {
            await producer.ProduceAsync(new TopicPartition(topic, 0), new Message<string, string> { Key = "a", Value = """{"orderId":"o1","amount":1}""" });
            await producer.ProduceAsync(new TopicPartition(topic, 0), new Message<string, string> { Key = "a", Value = poison[0] });
            await producer.ProduceAsync(new TopicPartition(topic, 0), new Message<string, string> { Key = "a", Value = """{"orderId":"o3","amount":3}""" });
            await producer.ProduceAsync(new TopicPartition(topic, 1), new Message<string, string> { Key = "b", Value = poison[1] });
            await producer.ProduceAsync(new TopicPartition(topic, 1), new Message<string, string> { Key = "b", Value = """{"orderId":"o5","amount":5}""" });
        }

        var orders = new OrderLog();
        using var host = BuildOrderHost<OrderHandler, OrderLog>(topic, group, orders);

        await host.StartAsync();
        var dead = KafkaClients.ReadAll(_kafka.BootstrapServers, deadLetters, 2);
        await Eventually.UntilAsync(
            () => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2) is { } c && c[0] == 3 && c[1] == 2,
            "both partitions are committed to their ends");
        await host.StopAsync();

        orders.Ids.Should().BeEquivalentTo(["o1", "o3", "o5"]);
        orders.Attempts.Should().Be(3, "the handler never ran for the poison records");
        dead.Select(d => d.Message.Value).Should().BeEquivalentTo(poison, "the raw bytes are kept");
        dead.Select(d => Header(d, ReliableKafkaHeaders.DeadLetterAttempts)).Should().OnlyContain(a => a == "0");
        dead.Select(d => Header(d, ReliableKafkaHeaders.DeadLetterExceptionType)).Should().OnlyContain(t => t == typeof(MessageDeserializationException).FullName);
    }

    [Fact]
    public async Task StopConsumer_StopsTheHostAndCommitsOnlyBelowTheFailedRecord()
    {
        var topic = _kafka.CreateTopic("stop", 1);
        var group = TestKafka.Unique("group");
        await ProduceAsync(topic, 6);
        _probe.Behavior = (context, _) => context.Offset.Value == 2 ? throw new InvalidOperationException("stop everything") : Task.CompletedTask;
        using var host = TestHost.BuildConsumer(
            output,
            _kafka.BootstrapServers,
            topic,
            group,
            _probe,
            o =>
            {
                o.FailurePolicy = FailurePolicy.StopConsumer;
                FastRetries(o.Retry);
            },
            kafka => kafka.Services.AddHealthChecks().AddReliableKafka());
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());

        await host.StartAsync();
        await stopping.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        await host.StopAsync();

        report.Status.Should().Be(HealthStatus.Unhealthy);
        report.Entries["reliablekafka"].Description.Should().Contain("consumer test: stopped: Consumer test stopped (FailurePolicy.StopConsumer)");

        var service = host.Services.GetServices<IHostedService>().OfType<BackgroundService>().Single(s => s is ReliableKafka.Consuming.Internal.IReliableConsumerService);
        service.ExecuteTask!.Exception!.InnerException.Should().BeOfType<ConsumerStoppedException>()
            .Which.InnerException.Should().BeOfType<InvalidOperationException>();
        _probe.Handled.Select(r => r.Offset).Should().Contain([0, 1]).And.NotContain(2);
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0].Should().Be(2, "records of other keys may have finished past it, but nothing at or past it is committed");
    }

    [Fact]
    public async Task Redrive_AfterTheCauseIsFixed_DeadLetteredRecordsAreBackOnceEachHandledAndNotSentTwice()
    {
        var topic = _kafka.CreateTopic("redrive", 2);
        var deadLetters = _kafka.CreateNamedTopic(topic + ".dlt", 1);
        var group = TestKafka.Unique("group");
        await ProduceAsync(topic, 12);
        var broken = true;
        _probe.Behavior = (context, _) => Volatile.Read(ref broken) && int.Parse(context.Value, CultureInfo.InvariantCulture) % 4 == 0
            ? throw new InvalidOperationException("the price service is down")
            : Task.CompletedTask;
        using var host = BuildHost(topic, group, o => o.Retry.MaxAttempts = 1);
        await host.StartAsync();
        await Eventually.UntilAsync(() => _probe.Handled.Count == 9, "the records that do not fail are handled");
        KafkaClients.ReadAll(_kafka.BootstrapServers, deadLetters, 3).Should().HaveCount(3);
        var redriver = host.Services.GetRequiredService<IDeadLetterRedriver>();

        var elsewhere = await redriver.RedriveAsync(new RedriveRequest { DeadLetterTopic = deadLetters, OriginalTopic = "some-other-topic", GroupId = TestKafka.Unique("redrive") });
        Volatile.Write(ref broken, false);
        var first = await redriver.RedriveAsync(new RedriveRequest { DeadLetterTopic = deadLetters, OriginalTopic = topic });
        await Eventually.UntilAsync(() => _probe.Handled.Count == 12, "the redriven records are handled");
        var second = await redriver.RedriveAsync(new RedriveRequest { DeadLetterTopic = deadLetters });
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        await host.StopAsync();

        elsewhere.Should().Be(new RedriveResult(0, 3), "the filter matched none");
        first.Should().Be(new RedriveResult(3, 0));
        second.Should().Be(new RedriveResult(0, 0), "what was sent back and committed is not sent again");
        _probe.Handled.Select(r => int.Parse(r.Value, CultureInfo.InvariantCulture)).Should().BeEquivalentTo(Enumerable.Range(0, 12), "each record is handled exactly once");
        var source = KafkaClients.ReadAll(_kafka.BootstrapServers, topic, 16, TimeSpan.FromSeconds(3));
        source.Should().HaveCount(15, "12 produced and 3 sent back once");
        var back = source.Where(r => Header(r, ReliableKafkaHeaders.RedriveCount) is not null).ToList();
        back.Select(r => r.Message.Value).Should().BeEquivalentTo(["0", "4", "8"]);
        back.Should().OnlyContain(r => Header(r, ReliableKafkaHeaders.RedriveCount) == "1"
            && Header(r, "my-header") == $"h{r.Message.Value}"
            && Header(r, ReliableKafkaHeaders.DeadLetterOriginalTopic) == null);
    }

    [Fact]
    public async Task TenThousandRecordsWithPoisonFlakyFailuresAndACrash_EveryRecordIsHandledOrDeadLetteredAndOnlyPoisonIsDeadLettered()
    {
        var topic = _kafka.CreateTopic("mixed", 4);
        var deadLetters = _kafka.CreateNamedTopic(topic + ".dlt", 1);
        var group = TestKafka.Unique("group");
        var random = new Random(20261121);
        var poison = new HashSet<string>();
        using (var producer = KafkaClients.Producer(_kafka.BootstrapServers, c => c.LingerMs = 5))
        {
            var sends = new List<Task>();
            for (var i = 0; i < 10_000; i++)
            {
                var id = $"o{i}";
                var isPoison = random.Next(100) == 0;
                if (isPoison)
                {
                    poison.Add(id);
                }

                var value = isPoison ? $"poison {id}" : $$"""{"orderId":"{{id}}","amount":{{i}}}""";
                sends.Add(producer.ProduceAsync(topic, new Message<string, string> { Key = $"key-{i % 200}", Value = value }));
            }

            await Task.WhenAll(sends);
        }

        var orders = new FlakyOrders(failingPercent: 5);
        IHost StartMember()
        {
            var host = BuildOrderHost<FlakyOrderHandler, FlakyOrders>(topic, group, orders);
            host.Start();
            return host;
        }

        var first = StartMember();
        await Eventually.UntilAsync(() => orders.Handled.Count >= 3_000, "the first member is under way");
        var engine = first.Services.GetServices<IHostedService>().OfType<IReliableConsumerService>().Single().Engine!;
        await engine.CrashAsync();
        first.Dispose();
        using var second = StartMember();
        await Eventually.UntilAsync(
            () => orders.Handled.Count + poison.Count == 10_000 && KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 4).Values.Sum() == 10_000,
            "every record is handled or dead-lettered, and committed",
            TimeSpan.FromMinutes(2));
        await second.StopAsync();

        var dead = KafkaClients.ReadAll(_kafka.BootstrapServers, deadLetters, int.MaxValue, TimeSpan.FromSeconds(3));
        var deadIds = dead.Select(d => d.Message.Value["poison ".Length..]).ToList();
        output.WriteLine($"poison {poison.Count}, flaky {orders.FlakyCount}, dead-letter records {dead.Count}, handled {orders.Handled.Count}, handled again after the crash {orders.HandledAgain}");
        orders.FlakyCount.Should().BeGreaterThan(300, "about 5% of the records failed at first");
        deadIds.ToHashSet().Should().BeEquivalentTo(poison, "exactly the poison records are dead-lettered (a crash repeats those not committed yet)");
        orders.Handled.Keys.Should().HaveCount(10_000 - poison.Count).And.NotContain(poison, "every other record is handled, none is lost");
    }

    /// <summary>Polls the health checks until they report degraded (a dead-letter write times out about a second after it starts).</summary>
    private static async Task<HealthReport> UntilDegradedAsync(HealthCheckService health)
    {
        var report = await health.CheckHealthAsync();
        for (var waited = 0; report.Status != HealthStatus.Degraded && waited < 30_000; waited += 50)
        {
            await Task.Delay(50);
            report = await health.CheckHealthAsync();
        }

        return report;
    }

    private static void FastRetries(RetryOptions retry)
    {
        retry.MaxAttempts = 3;
        retry.InitialDelay = TimeSpan.FromMilliseconds(10);
        retry.MaxDelay = TimeSpan.FromMilliseconds(50);
    }

    private static string? Header(ConsumeResult<string, string> record, string key) =>
        record.Message.Headers.TryGetLastBytes(key, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;

    /// <summary>A host whose consumer deserializes JSON orders (so that other bytes are poison), with fast retries.</summary>
    private IHost BuildOrderHost<THandler, TState>(string topic, string group, TState state)
        where THandler : class, IMessageHandler<string, Order>
        where TState : class =>
        TestHost.Build(output, services =>
        {
            services.AddSingleton(state);
            services.AddReliableKafka(o => o.BootstrapServers = _kafka.BootstrapServers)
                .AddConsumer<string, Order, THandler>("orders", o =>
                {
                    o.GroupId = group;
                    o.Topics.Add(topic);
                    TestHost.FastGroup(o);
                    FastRetries(o.Retry);
                });
        });

    private IHost BuildHost(string topic, string group, Action<ConsumerOptions>? configure = null) =>
        TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, _probe, configure);

    private Task<List<DeliveryResult<string, string>>> ProduceAsync(string topic, int count) => ProduceAsync(_kafka.BootstrapServers, topic, count);

    /// <summary>Produces records with values 0..count-1, keys over 3 keys, and a header per record.</summary>
    private static async Task<List<DeliveryResult<string, string>>> ProduceAsync(string bootstrapServers, string topic, int count)
    {
        using var producer = KafkaClients.Producer(bootstrapServers);
        var results = new List<DeliveryResult<string, string>>();
        for (var i = 0; i < count; i++)
        {
            var value = i.ToString(CultureInfo.InvariantCulture);
            results.Add(await producer.ProduceAsync(topic, new Message<string, string>
            {
                Key = $"key-{i % 3}",
                Value = value,
                Headers = new Headers { { "my-header", Encoding.UTF8.GetBytes($"h{value}") } },
            }));
        }

        return results;
    }

    /// <summary>Orders handled so far; about <c>failingPercent</c>% of them fail once or twice before they succeed.</summary>
    private sealed class FlakyOrders(int failingPercent)
    {
        private readonly ConcurrentDictionary<string, int> _failures = new();
        private int _handledAgain;

        public ConcurrentDictionary<string, bool> Handled { get; } = new();

        public int FlakyCount => _failures.Count;

        public int HandledAgain => Volatile.Read(ref _handledAgain);

        public void Handle(Order order)
        {
            var hash = StableHash(order.OrderId);
            if (hash % 100 < failingPercent)
            {
                var failures = _failures.AddOrUpdate(order.OrderId, 1, (_, n) => n + 1);
                if (failures <= 1 + (hash % 2))
                {
                    throw new TimeoutException($"order {order.OrderId} failed attempt {failures}");
                }
            }

            if (!Handled.TryAdd(order.OrderId, true))
            {
                Interlocked.Increment(ref _handledAgain);
            }
        }

        private static int StableHash(string text) => text.Aggregate(17, (h, c) => unchecked((h * 31) + c)) & int.MaxValue;
    }

    private sealed class FlakyOrderHandler(FlakyOrders orders) : IMessageHandler<string, Order>
    {
        public Task HandleAsync(MessageContext<string, Order> context, CancellationToken cancellationToken)
        {
            orders.Handle(context.Value);
            return Task.CompletedTask;
        }
    }
}
