using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReliableKafka.IntegrationTests.Infrastructure;
using ReliableKafka.Testing;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Producing;

public sealed class ReliableProducerTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestKafka _kafka = TestKafka.Start();

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task ProduceAsync_AtLeastOnce_ReturnsWhereItWasWrittenAndAddsAMessageIdHeader()
    {
        var topic = _kafka.CreateTopic("produce", 3);
        using var host = BuildHost(b => b.AddProducer<string, string>());
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();

        var result = await producer.ProduceAsync(topic, "customer-1", "hello");

        result.Status.Should().Be(PersistenceStatus.Persisted);
        result.Topic.Should().Be(topic);
        result.Offset.Value.Should().Be(0);
        result.MessageId.Should().MatchRegex("^[0-9a-f]{32}$");
        var read = KafkaClients.ReadAll(_kafka.BootstrapServers, topic, 1).Single();
        read.Partition.Should().Be(result.Partition);
        read.Message.Key.Should().Be("customer-1");
        read.Message.Value.Should().Be("hello");
        Encoding.UTF8.GetString(read.Message.Headers.GetLastBytes(ReliableKafkaHeaders.MessageId)).Should().Be(result.MessageId);
        await host.StopAsync();
    }

    [Fact]
    public async Task ProduceAsync_MessageWithItsOwnId_KeepsTheIdAndLeavesTheCallersHeadersUnchanged()
    {
        var topic = _kafka.CreateTopic("own-id", 1);
        using var host = BuildHost(b => b.AddProducer<string, string>());
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
        var headers = new Headers { { ReliableKafkaHeaders.MessageId, Encoding.UTF8.GetBytes("order-42-v1") }, { "trace", [1, 2] } };

        var first = await producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = "v", Headers = headers });
        var second = await producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = "v", Headers = headers });

        first.MessageId.Should().Be("order-42-v1");
        second.MessageId.Should().Be("order-42-v1", "a resend of the same message carries the same id");
        headers.Should().HaveCount(2);
        var read = KafkaClients.ReadAll(_kafka.BootstrapServers, topic, 2);
        read.Should().AllSatisfy(r => r.Message.Headers.Select(h => h.Key).Should().Equal(ReliableKafkaHeaders.MessageId, "trace"));
        await host.StopAsync();
    }

    [Fact]
    public async Task ProduceAsync_MessageIdHeaderOff_WritesNoHeaderUnlessTheCallerGaveOne()
    {
        var topic = _kafka.CreateTopic("no-id", 1);
        using var host = BuildHost(b => b.AddProducer<string, string>(p => p.MessageIdHeader = false));
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();

        var plain = await producer.ProduceAsync(topic, "k", "plain");
        var withOwnId = await producer.ProduceAsync(topic, new Message<string, string>
        {
            Key = "k",
            Value = "own-id",
            Headers = new Headers { { ReliableKafkaHeaders.MessageId, Encoding.UTF8.GetBytes("order-7") } },
        });

        plain.MessageId.Should().BeNull();
        withOwnId.MessageId.Should().Be("order-7");
        var read = KafkaClients.ReadAll(_kafka.BootstrapServers, topic, 2);
        read[0].Message.Headers.Should().BeEmpty();
        Encoding.UTF8.GetString(read[1].Message.Headers.GetLastBytes(ReliableKafkaHeaders.MessageId)).Should().Be("order-7");
        await host.StopAsync();
    }

    [Fact]
    public async Task ProduceAsync_RecordValue_IsWrittenAsCamelCaseJson()
    {
        var topic = _kafka.CreateTopic("json", 1);
        using var host = BuildHost(b => b.AddProducer<string, OrderPlaced>());
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, OrderPlaced>>();

        await producer.ProduceAsync(topic, "c1", new OrderPlaced("o-1", 12.5m));

        var json = KafkaClients.ReadAll(_kafka.BootstrapServers, topic, 1).Single().Message.Value;
        JsonDocument.Parse(json).RootElement.GetProperty("orderId").GetString().Should().Be("o-1");
        JsonDocument.Parse(json).RootElement.GetProperty("amount").GetDecimal().Should().Be(12.5m);
        await host.StopAsync();
    }

    [Fact]
    public async Task ProduceAsync_BrokerDownDuringProduce_CompletesAfterBrokerUpWithNothingLostAndKeyOrderKept()
    {
        using var cluster = new EmbeddedKafkaCluster();
        cluster.CreateTopic("outage", 4);
        using var host = BuildHost(b => b.AddProducer<string, string>(), cluster.BootstrapServers);
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
        var keys = Enumerable.Range(0, 12).Select(k => $"key-{k}").ToArray();
        var sends = new List<(string Key, int Sequence, Task<ProduceResult> Task)>();
        for (var i = 0; i < 120; i++)
        {
            sends.Add((keys[i % keys.Length], i, producer.ProduceAsync("outage", keys[i % keys.Length], i.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        }

        await Task.WhenAll(sends.Select(s => s.Task));
        var firstPartition = (await sends[0].Task).Partition.Value;
        var downBroker = LeaderOf(cluster, "outage", firstPartition);

        cluster.SetBrokerDown(downBroker);
        for (var i = 120; i < 240; i++)
        {
            sends.Add((keys[i % keys.Length], i, producer.ProduceAsync("outage", keys[i % keys.Length], i.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        }

        var pendingWhileDown = await CountPendingAfter(sends.Skip(120).Select(s => s.Task), TimeSpan.FromSeconds(2));
        cluster.SetBrokerUp(downBroker);
        await Task.WhenAll(sends.Select(s => s.Task)).WaitAsync(TimeSpan.FromSeconds(60));

        pendingWhileDown.Should().BeGreaterThan(0, "records for partitions led by the down broker wait for it");
        var results = await Task.WhenAll(sends.Select(s => s.Task));
        results.Should().OnlyContain(r => r.Status == PersistenceStatus.Persisted);
        var read = KafkaClients.ReadAll(cluster.BootstrapServers, "outage", 240);
        read.Should().HaveCount(240, "nothing is lost");
        read.Select(r => r.Message.Value).Should().OnlyHaveUniqueItems("nothing is written twice");
        foreach (var group in read.GroupBy(r => r.Message.Key))
        {
            var sequences = group.OrderBy(r => r.Offset.Value).Select(r => int.Parse(r.Message.Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            sequences.Should().BeInAscendingOrder($"key {group.Key} keeps its order");
        }

        await host.StopAsync();
    }

    [Fact]
    public async Task ProduceAsync_RetriableErrorsInjected_RetriesAndWritesEachMessageOnce()
    {
        using var cluster = new EmbeddedKafkaCluster();
        cluster.CreateTopic("flaky", 1);
        using var host = BuildHost(b => b.AddProducer<string, string>(), cluster.BootstrapServers);
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
        await producer.ProduceAsync("flaky", "k", "warm-up");

        cluster.InjectRequestErrors(KafkaApi.Produce, ErrorCode.NotLeaderForPartition, ErrorCode.RequestTimedOut, ErrorCode.NotEnoughReplicas);
        var results = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => producer.ProduceAsync("flaky", "k", $"v{i}")));

        results.Should().OnlyContain(r => r.Status == PersistenceStatus.Persisted);
        KafkaClients.ReadAll(cluster.BootstrapServers, "flaky", 11).Select(r => r.Message.Value)
            .Should().Equal(new[] { "warm-up" }.Concat(Enumerable.Range(0, 10).Select(i => $"v{i}")));
        await host.StopAsync();
    }

    [Fact]
    public async Task ProduceAsync_NonRetriableBrokerError_ThrowsWithTheErrorCodeAndNotRetriable()
    {
        using var cluster = new EmbeddedKafkaCluster();
        cluster.CreateTopic("denied", 1);
        using var host = BuildHost(b => b.AddProducer<string, string>(), cluster.BootstrapServers);
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
        await producer.ProduceAsync("denied", "k", "warm-up");

        cluster.InjectRequestErrors(KafkaApi.Produce, ErrorCode.TopicAuthorizationFailed);
        var act = () => producer.ProduceAsync("denied", "k", "v");

        var error = (await act.Should().ThrowAsync<ReliableKafkaProduceException>()).Which;
        error.ErrorCode.Should().Be(ErrorCode.TopicAuthorizationFailed);
        error.IsRetriable.Should().BeFalse();
        error.IsFatal.Should().BeFalse();
        error.Topic.Should().Be("denied");
        error.MessageId.Should().NotBeNullOrEmpty();
        error.Message.Should().Contain("'denied'").And.Contain("TopicAuthorizationFailed");
        await host.StopAsync();
    }

    [Fact]
    public async Task ProduceAsync_BrokerDownLongerThanMessageTimeout_ThrowsRetriableTimeout()
    {
        using var cluster = new EmbeddedKafkaCluster(new EmbeddedKafkaClusterOptions { BrokerCount = 1 });
        cluster.CreateTopic("timeout", 1);
        using var host = BuildHost(b => b.AddProducer<string, string>(p => p.MessageTimeout = TimeSpan.FromSeconds(2)), cluster.BootstrapServers);
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
        await producer.ProduceAsync("timeout", "k", "warm-up");

        cluster.SetBrokerDown(1);
        var act = () => producer.ProduceAsync("timeout", "k", "v");

        var error = (await act.Should().ThrowAsync<ReliableKafkaProduceException>()).Which;
        error.ErrorCode.Should().Be(ErrorCode.Local_MsgTimedOut);
        error.IsRetriable.Should().BeTrue();
        cluster.SetBrokerUp(1);
        await host.StopAsync();
    }

    [Fact]
    public async Task Dispose_MessagesStillInFlightAfterTheFlushTimeout_CompleteWithAPurgeErrorAndLaterCallsFail()
    {
        using var cluster = new EmbeddedKafkaCluster(new EmbeddedKafkaClusterOptions { BrokerCount = 1 });
        cluster.CreateTopic("purged", 1);
        var host = BuildHost(
            b => b.AddProducer<string, string>(p =>
            {
                p.MessageTimeout = TimeSpan.FromMinutes(5);
                p.FlushTimeout = TimeSpan.FromSeconds(1);
            }),
            cluster.BootstrapServers);
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
        await producer.ProduceAsync("purged", "k", "warm-up");
        cluster.SetBrokerDown(1);
        var pending = Enumerable.Range(0, 5).Select(i => producer.ProduceAsync("purged", "k", $"v{i}")).ToList();

        await host.StopAsync();
        host.Dispose();
        var completed = await Task.WhenAll(pending.Select(p => p.ContinueWith(t => t, TaskScheduler.Default))).WaitAsync(TimeSpan.FromSeconds(20));
        var afterDispose = producer.ProduceAsync("purged", "k", "late");

        completed.Should().OnlyContain(t => t.IsFaulted, "a pending ProduceAsync completes when the producer is disposed, never hangs");
        completed.Select(t => t.Exception!.InnerException).Should().AllBeOfType<ReliableKafkaProduceException>()
            .Which.Select(e => e.ErrorCode).Should().OnlyContain(c => c == ErrorCode.Local_PurgeQueue || c == ErrorCode.Local_PurgeInflight);
        (await afterDispose.ContinueWith(t => t, TaskScheduler.Default).WaitAsync(TimeSpan.FromSeconds(5))).Exception!.InnerException.Should().BeOfType<ObjectDisposedException>();
        cluster.SetBrokerUp(1);
    }

    [Fact]
    public async Task ProduceAsync_AlreadyCancelledToken_SendsNothing()
    {
        var topic = _kafka.CreateTopic("cancelled", 1);
        using var host = BuildHost(b => b.AddProducer<string, string>());
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();

        var act = () => producer.ProduceAsync(topic, "k", "never", new CancellationToken(canceled: true));
        await producer.ProduceAsync(topic, "k", "sent");

        await act.Should().ThrowAsync<OperationCanceledException>();
        KafkaClients.ReadAll(_kafka.BootstrapServers, topic, 2, TimeSpan.FromSeconds(3)).Select(r => r.Message.Value).Should().Equal("sent");
        await host.StopAsync();
    }

    [Fact]
    public async Task ProduceAsync_AfterAFatalIdempotenceError_FailsAsFatalAndTheErrorIsLoggedAsCritical()
    {
        using var cluster = new EmbeddedKafkaCluster();
        cluster.CreateTopic("fatal", 1);
        var logs = new LogCapture();
        using var host = BuildHost(b => b.AddProducer<string, string>(), cluster.BootstrapServers, logs);
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
        await producer.ProduceAsync("fatal", "k", "warm-up");

        // A head-of-line sequence error means producer and broker disagree on what was written: librdkafka
        // raises a fatal error, since it can no longer guarantee order or once-ness.
        cluster.InjectRequestErrors(KafkaApi.Produce, ErrorCode.OutOfOrderSequenceNumber);
        var first = () => producer.ProduceAsync("fatal", "k", "v1");
        await first.Should().ThrowAsync<ReliableKafkaProduceException>();
        var later = () => producer.ProduceAsync("fatal", "k", "v2");

        var error = (await later.Should().ThrowAsync<ReliableKafkaProduceException>()).Which;
        error.IsFatal.Should().BeTrue();
        error.IsRetriable.Should().BeFalse();
        error.Message.Should().Contain("(fatal)");
        logs.Entries.Should().Contain(e => e.Level == LogLevel.Critical && e.EventId == 1003 && e.Message.Contains("fatal error"));
        await host.StopAsync();
    }

    [Fact]
    public async Task ProduceAsync_SerializerThrows_ThrowsValueSerializationErrorWithTheCause()
    {
        var topic = _kafka.CreateTopic("bad-serializer", 1);
        using var host = BuildHost(b =>
        {
            b.AddProducer<string, OrderPlaced>("orders");
            b.Services.AddKeyedSingleton<ISerializer<OrderPlaced>>("orders", new ThrowingSerializer());
        });
        await host.StartAsync();
        var producer = host.Services.GetRequiredKeyedService<IReliableProducer<string, OrderPlaced>>("orders");

        var act = () => producer.ProduceAsync(topic, "k", new OrderPlaced("o", 1));

        var error = (await act.Should().ThrowAsync<ReliableKafkaProduceException>()).Which;
        error.ErrorCode.Should().Be(ErrorCode.Local_ValueSerialization);
        error.IsRetriable.Should().BeFalse();
        error.InnerException.Should().BeOfType<FormatException>();
        await host.StopAsync();
    }

    [Fact]
    public async Task ProduceAsync_AtMostOnce_IsFireAndForgetWithoutAnOffset()
    {
        var topic = _kafka.CreateTopic("metrics", 1);
        using var host = BuildHost(b => b.AddProducer<string, string>(p => p.DeliveryGuarantee = DeliveryGuarantee.AtMostOnce));
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();

        var result = await producer.ProduceAsync(topic, "cpu", "0.93");

        result.Status.Should().Be(PersistenceStatus.PossiblyPersisted, "acks=0: the broker does not answer");
        result.Offset.Should().Be(Offset.Unset);
        KafkaClients.ReadAll(_kafka.BootstrapServers, topic, 1).Single().Message.Value.Should().Be("0.93");
        await host.StopAsync();
    }

    [Fact]
    public async Task StopAsync_MessagesStillLingering_AreDeliveredBeforeTheHostStops()
    {
        var topic = _kafka.CreateTopic("flush", 2);
        using var host = BuildHost(b => b.AddProducer<string, string>(p => p.Linger = TimeSpan.FromSeconds(30)));
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
        var sends = Enumerable.Range(0, 50).Select(i => producer.ProduceAsync(topic, $"k{i % 5}", $"v{i}")).ToList();

        await host.StopAsync();
        var inTopic = KafkaClients.ReadAll(_kafka.BootstrapServers, topic, 50, TimeSpan.FromSeconds(5));

        inTopic.Should().HaveCount(50, "the 30 s linger would hold them back; stopping the host flushed them");
        var results = await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(5));
        results.Should().OnlyContain(r => r.Status == PersistenceStatus.Persisted);
    }

    [Fact]
    public async Task Producers_WithDifferentNames_AreResolvedByKeyAndUseTheirOwnOptions()
    {
        var topic = _kafka.CreateTopic("named", 1);
        using var host = BuildHost(b => b
            .AddProducer<string, string>("reliable")
            .AddProducer<string, string>("metrics", p => p.DeliveryGuarantee = DeliveryGuarantee.AtMostOnce));
        await host.StartAsync();

        var reliable = await host.Services.GetRequiredKeyedService<IReliableProducer<string, string>>("reliable").ProduceAsync(topic, "k", "a");
        var metrics = await host.Services.GetRequiredKeyedService<IReliableProducer<string, string>>("metrics").ProduceAsync(topic, "k", "b");
        var unkeyed = host.Services.GetRequiredService<IReliableProducer<string, string>>();

        reliable.Status.Should().Be(PersistenceStatus.Persisted);
        metrics.Status.Should().Be(PersistenceStatus.PossiblyPersisted);
        unkeyed.Name.Should().Be("reliable", "the first producer of these types is also registered without a key");
        await host.StopAsync();
    }

    private static int LeaderOf(EmbeddedKafkaCluster cluster, string topic, int partition)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).SetLogHandler(KafkaClients.Ignore).Build();
        return admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics[0].Partitions.Single(p => p.PartitionId == partition).Leader;
    }

    private static async Task<int> CountPendingAfter(IEnumerable<Task> tasks, TimeSpan wait)
    {
        await Task.Delay(wait);
        return tasks.Count(t => !t.IsCompleted);
    }

    private IHost BuildHost(Action<IReliableKafkaBuilder> configure, string? bootstrapServers = null, LogCapture? logs = null) =>
        TestHost.Build(
            output,
            services =>
            {
                var builder = services.AddReliableKafka(o =>
                {
                    o.BootstrapServers = bootstrapServers ?? _kafka.BootstrapServers;
                    TestHost.FastReconnect(o);
                });
                configure(builder);
            },
            logs);

    public sealed record OrderPlaced(string OrderId, decimal Amount);

    private sealed class ThrowingSerializer : ISerializer<OrderPlaced>
    {
        public byte[] Serialize(OrderPlaced data, SerializationContext context) => throw new FormatException("cannot write orders today");
    }
}
