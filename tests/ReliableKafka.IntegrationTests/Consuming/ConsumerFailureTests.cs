using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReliableKafka.IntegrationTests.Infrastructure;
using ReliableKafka.Offsets.Internal;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Consuming;

/// <summary>An exception on the poll thread or in a rebalance callback stops the consumer loudly; it never leaves it assigned and idle.</summary>
public sealed class ConsumerFailureTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestKafka _kafka = TestKafka.Start();
    private readonly HandlerProbe _probe = new();

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task Consumer_ExceptionWhileAssigningPartitions_LogsCriticalFaultsItsServiceAndReportsUnhealthy()
    {
        var topic = _kafka.CreateTopic("assign-fails", 2);
        var group = TestKafka.Unique("group");
        var logs = new LogCapture();
        using var host = HostWith(new FailingReadStore(new InvalidOperationException("injected: reading committed offsets blew up")), topic, group, logs);

        var service = await StartUntilTheServiceEndsAsync(host);

        service.ExecuteTask!.IsFaulted.Should().BeTrue("the failure is the service's outcome, so the host's BackgroundServiceExceptionBehavior applies");
        service.ExecuteTask.Exception!.InnerException.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Contain("injected");
        logs.Entries.Should().Contain(e => e.Level == LogLevel.Critical && e.Category.StartsWith("ReliableKafka", StringComparison.Ordinal) && e.Message.Contains("injected", StringComparison.Ordinal),
            "the failure is logged as critical, with the exception");
        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        health.Status.Should().Be(HealthStatus.Unhealthy);
        health.Entries.Values.Single().Description.Should().Contain("injected");
        await host.StopAsync();
    }

    [Fact]
    public async Task Consumer_ExceptionWhileCommitting_LogsCriticalAndFaultsItsService()
    {
        var topic = _kafka.CreateTopic("commit-fails", 1);
        var group = TestKafka.Unique("group");
        using (var producer = KafkaClients.Producer(_kafka.BootstrapServers))
        {
            await producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = "v" });
        }

        var logs = new LogCapture();
        using var host = HostWith(new FailingCommitStore(new DllNotFoundException("injected: the native library is gone")), topic, group, logs);

        var service = await StartUntilTheServiceEndsAsync(host);

        service.ExecuteTask!.Exception!.InnerException.Should().BeOfType<DllNotFoundException>();
        logs.Entries.Should().Contain(e => e.Level == LogLevel.Critical && e.Message.Contains("injected", StringComparison.Ordinal));
        await host.StopAsync();
    }

    /// <summary>A consumer whose offset store fails as given; the host ignores the failed service (the test looks at it).</summary>
    private IHost HostWith(IGroupOffsetStore store, string topic, string group, LogCapture logs) => TestHost.BuildConsumer(
        output,
        _kafka.BootstrapServers,
        topic,
        group,
        _probe,
        configureKafka: b =>
        {
            b.Services.AddSingleton(store);
            b.Services.Configure<HostOptions>(o => o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.Ignore);
            b.Services.AddHealthChecks().AddReliableKafka();
        },
        logs: logs);

    private static async Task<BackgroundService> StartUntilTheServiceEndsAsync(IHost host)
    {
        await host.StartAsync();
        var service = host.Services.GetServices<IHostedService>().OfType<BackgroundService>().Single(s => s is ReliableKafka.Consuming.Internal.IReliableConsumerService);
        await Eventually.UntilAsync(() => service.ExecuteTask is { IsCompleted: true }, "the consumer's hosted service ends");
        return service;
    }

    private sealed class FailingReadStore(Exception error) : IGroupOffsetStore
    {
        public IPendingCommit BeginCommit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets) =>
            NativeGroupOffsetStore.Instance.BeginCommit(consumer, offsets);

        public void Commit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets, TimeSpan timeout) =>
            NativeGroupOffsetStore.Instance.Commit(consumer, offsets, timeout);

        public IReadOnlyList<CommittedOffset> ReadCommitted(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<TopicPartition> partitions, TimeSpan timeout) =>
            throw error;
    }

    private sealed class FailingCommitStore(Exception error) : IGroupOffsetStore
    {
        public IPendingCommit BeginCommit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets) => throw error;

        public void Commit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets, TimeSpan timeout) => throw error;

        public IReadOnlyList<CommittedOffset> ReadCommitted(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<TopicPartition> partitions, TimeSpan timeout) =>
            NativeGroupOffsetStore.Instance.ReadCommitted(consumer, partitions, timeout);
    }
}
