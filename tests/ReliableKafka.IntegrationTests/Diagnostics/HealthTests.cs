using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using ReliableKafka.IntegrationTests.Infrastructure;
using ReliableKafka.Testing;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Diagnostics;

/// <summary>The health check notices a cluster none of whose brokers answers, a producer's fatal error and a consumer that makes no progress.</summary>
public sealed class HealthTests(ITestOutputHelper output)
{
    private readonly HandlerProbe _probe = new();

    [Fact]
    public async Task EveryBrokerDown_DegradedOnceTheConfiguredTimePassed_HealthyAgainWhenTheyAreBack()
    {
        using var cluster = new EmbeddedKafkaCluster();
        cluster.CreateTopic("watched", 2);
        using var host = Build(cluster.BootstrapServers, "watched", health =>
        {
            health.BrokersUnreachableAfter = TimeSpan.FromSeconds(2);
            health.BrokerProbeInterval = TimeSpan.FromMilliseconds(500);
        });
        await host.StartAsync();
        await Eventually.UntilAsync(async () => (await CheckAsync(host)).Status == HealthStatus.Healthy, "healthy while the brokers answer");

        var down = DateTimeOffset.UtcNow;
        for (var broker = 1; broker <= cluster.BrokerCount; broker++)
        {
            cluster.SetBrokerDown(broker);
        }

        var degraded = await UntilAsync(host, HealthStatus.Degraded, "degraded while no broker answers", TimeSpan.FromSeconds(20));
        (DateTimeOffset.UtcNow - down).Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(1.5), "not before the configured time (counted from the last answer, at most one probe before the brokers went down)");
        degraded.Description.Should().Contain("cluster (default)").And.Contain("no broker reachable since");
        degraded.Data.Should().ContainKey("cluster:(default)");

        for (var broker = 1; broker <= cluster.BrokerCount; broker++)
        {
            cluster.SetBrokerUp(broker);
        }

        await Eventually.UntilAsync(async () => (await CheckAsync(host)).Status == HealthStatus.Healthy, "healthy again once the brokers answer", TimeSpan.FromSeconds(30));
        await host.StopAsync();
    }

    [Fact]
    public async Task ProducerHitAFatalError_Unhealthy_NamingTheProducer()
    {
        using var cluster = new EmbeddedKafkaCluster();
        cluster.CreateTopic("fatal-health", 1);
        using var host = Build(cluster.BootstrapServers, "fatal-health", _ => { }, kafka => kafka.AddProducer<string, string>("payments"));
        await host.StartAsync();
        var producer = host.Services.GetRequiredKeyedService<IReliableProducer<string, string>>("payments");
        await producer.ProduceAsync("fatal-health", "k", "warm-up");
        (await CheckAsync(host)).Status.Should().Be(HealthStatus.Healthy);

        // A head-of-line sequence error: librdkafka's idempotent producer can no longer guarantee order or once-ness.
        cluster.InjectRequestErrors(KafkaApi.Produce, ErrorCode.OutOfOrderSequenceNumber);
        var send = () => producer.ProduceAsync("fatal-health", "k", "v1");
        await send.Should().ThrowAsync<ReliableKafkaProduceException>();

        var report = await UntilAsync(host, HealthStatus.Unhealthy, "unhealthy after the fatal error");
        report.Description.Should().Contain("producer payments").And.Contain("fatal error");
        await host.StopAsync();
    }

    [Fact]
    public async Task HandlerHangs_DegradedAfterTheConfiguredTimeWithoutProgress_HealthyOnceItFinishes()
    {
        using var kafka = TestKafka.Start();
        var topic = kafka.CreateTopic("stuck", 1);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _probe.Behavior = (_, _) => release.Task;
        using var host = Build(kafka.BootstrapServers, topic, health => health.NoProgressAfter = TimeSpan.FromSeconds(1));
        await host.StartAsync();
        using (var producer = KafkaClients.Producer(kafka.BootstrapServers))
        {
            await producer.ProduceAsync(topic, new Message<string, string> { Key = "a", Value = "1" });
            await producer.ProduceAsync(topic, new Message<string, string> { Key = "a", Value = "2" });
        }

        await Eventually.UntilAsync(() => _probe.Attempts.Count == 1, "the first record's handler runs");
        (await CheckAsync(host)).Status.Should().Be(HealthStatus.Healthy, "a second has not passed yet");
        var report = await UntilAsync(host, HealthStatus.Degraded, "degraded while nothing finishes");
        report.Description.Should().Contain("consumer test").And.Contain("no record finished since").And.Contain("2 record(s) wait");

        release.SetResult();
        await Eventually.UntilAsync(() => _probe.Handled.Count == 2, "both handled");
        (await CheckAsync(host)).Status.Should().Be(HealthStatus.Healthy);
        await host.StopAsync();
    }

    [Fact]
    public async Task OneHandlerHangsWhileOthersFinish_DegradedNamingTheRunningHandler()
    {
        using var kafka = TestKafka.Start();
        var topic = kafka.CreateTopic("one-stuck", 1);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _probe.Behavior = (context, _) => context.Key == "slow" ? release.Task : Task.CompletedTask;
        using var host = Build(kafka.BootstrapServers, topic, health => health.NoProgressAfter = TimeSpan.FromSeconds(1));
        await host.StartAsync();
        using var producer = KafkaClients.Producer(kafka.BootstrapServers);
        await producer.ProduceAsync(topic, new Message<string, string> { Key = "slow", Value = "0" });
        using var keepGoing = new CancellationTokenSource();
        var others = Task.Run(async () =>
        {
            for (var i = 0; !keepGoing.IsCancellationRequested; i++)
            {
                await producer.ProduceAsync(topic, new Message<string, string> { Key = $"fast{i}", Value = $"{i}" });
                await Task.Delay(100);
            }
        });

        var report = await UntilAsync(host, HealthStatus.Degraded, "degraded while one handler hangs");
        report.Description.Should().Contain("a handler has been running since").And.NotContain("no record finished");
        _probe.Handled.Should().NotBeEmpty("the other keys' records finish meanwhile");

        keepGoing.Cancel();
        await others;
        release.SetResult();
        await UntilAsync(host, HealthStatus.Healthy, "healthy once it finished");
        await host.StopAsync();
    }

    private static Task<HealthReport> CheckAsync(IHost host) => host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

    /// <summary>Checks until the report has <paramref name="status"/>; returns ReliableKafka's entry.</summary>
    private static async Task<HealthReportEntry> UntilAsync(IHost host, HealthStatus status, string because, TimeSpan? timeout = null)
    {
        HealthReportEntry? entry = null;
        await Eventually.UntilAsync(
            async () =>
            {
                var report = await CheckAsync(host);
                entry = report.Entries["reliablekafka"];
                return report.Status == status;
            },
            because,
            timeout);
        return entry!.Value;
    }

    private IHost Build(string bootstrapServers, string topic, Action<HealthOptions> health, Action<IReliableKafkaBuilder>? configureKafka = null) =>
        TestHost.BuildConsumer(
            output,
            bootstrapServers,
            topic,
            TestKafka.Unique("group"),
            _probe,
            configureKafka: kafka =>
            {
                kafka.Services.Configure<ReliableKafkaOptions>(o => health(o.Health));
                kafka.Services.AddHealthChecks().AddReliableKafka();
                configureKafka?.Invoke(kafka);
            });
}
