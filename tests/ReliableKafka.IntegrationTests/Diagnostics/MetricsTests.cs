using System.Diagnostics.Metrics;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using ReliableKafka.IntegrationTests.Infrastructure;
using ReliableKafka.Testing;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Diagnostics;

/// <summary>
/// The ReliableKafka meter, created by the host's IMeterFactory (so these collectors see only this host's measurements):
/// OpenTelemetry's messaging instruments and ReliableKafka's own gauges, read on the embedded cluster.
/// </summary>
public sealed class MetricsTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestKafka _kafka = TestKafka.Start();
    private readonly HandlerProbe _probe = new();

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task ProducedAndConsumed_TheMessagingInstrumentsCountEveryMessage_WithTheirAttributes()
    {
        var topic = _kafka.CreateTopic("metered", 2);
        var group = TestKafka.Unique("group");
        using var host = TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, _probe, configureKafka: kafka => kafka.AddProducer<string, string>());
        var meters = host.Services.GetRequiredService<IMeterFactory>();
        using var sent = Collect<long>(meters, "messaging.client.sent.messages");
        using var operations = Collect<double>(meters, "messaging.client.operation.duration");
        using var consumed = Collect<long>(meters, "messaging.client.consumed.messages");
        using var processed = Collect<double>(meters, "messaging.process.duration");
        using var rebalances = Collect<long>(meters, "reliablekafka.consumer.rebalances");
        using var lag = Collect<long>(meters, "reliablekafka.consumer.lag");
        using var beyond = Collect<long>(meters, "reliablekafka.consumer.finished_beyond_watermark");
        using var buffered = Collect<long>(meters, "reliablekafka.consumer.buffered");
        await host.StartAsync();

        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
        for (var i = 0; i < 20; i++)
        {
            await producer.ProduceAsync(topic, $"k{i}", $"v{i}"); // 20 keys: both partitions get some
        }

        await Eventually.UntilAsync(() => _probe.Handled.Count == 20, "every message handled");

        // Lag is the end offset minus the committed offset, per partition: zero once everything is committed (the end
        // offsets are refreshed about once a second).
        await Eventually.UntilAsync(
            () =>
            {
                lag.RecordObservableInstruments();
                var last = LastPerPartition(lag, topic);
                return last.Count == 2 && last.Values.All(v => v == 0);
            },
            "lag 0 on both partitions");
        beyond.RecordObservableInstruments();
        LastPerPartition(beyond, topic).Values.Should().OnlyContain(v => v == 0);
        buffered.RecordObservableInstruments();
        LastPerPartition(buffered, topic).Values.Should().OnlyContain(v => v == 0);
        await host.StopAsync();

        var sends = sent.GetMeasurementSnapshot();
        sends.Sum(m => m.Value).Should().Be(20);
        sends.Should().OnlyContain(m => (string?)m.Tags["messaging.system"] == "kafka"
            && (string?)m.Tags["messaging.destination.name"] == topic
            && (string?)m.Tags["messaging.operation.name"] == "send"
            && m.Tags.ContainsKey("messaging.destination.partition.id")
            && !m.Tags.ContainsKey("error.type"));

        var durations = operations.GetMeasurementSnapshot();
        durations.Count(m => (string?)m.Tags["messaging.operation.name"] == "send").Should().Be(20);
        durations.Should().Contain(m => (string?)m.Tags["messaging.operation.name"] == "commit" && (string?)m.Tags["messaging.consumer.group.name"] == group && !m.Tags.ContainsKey("error.type"));
        durations.Should().OnlyContain(m => m.Value >= 0);

        var consumedByPartition = consumed.GetMeasurementSnapshot()
            .Where(m => (string?)m.Tags["messaging.consumer.group.name"] == group)
            .GroupBy(m => (string?)m.Tags["messaging.destination.partition.id"])
            .ToDictionary(g => g.Key!, g => g.Sum(m => m.Value));
        consumedByPartition.Values.Sum().Should().Be(20);
        consumedByPartition.Keys.Should().BeEquivalentTo(
            _probe.Handled.Select(h => h.Partition.ToString(System.Globalization.CultureInfo.InvariantCulture)).Distinct());

        var processes = processed.GetMeasurementSnapshot();
        processes.Should().HaveCount(20);
        processes.Should().OnlyContain(m => (string?)m.Tags["messaging.operation.name"] == "process"
            && (string?)m.Tags["messaging.destination.name"] == topic
            && (string?)m.Tags["reliablekafka.consumer.name"] == "test"
            && !m.Tags.ContainsKey("error.type"));

        rebalances.GetMeasurementSnapshot().Should().Contain(m => (string?)m.Tags["reliablekafka.rebalance.kind"] == "assigned");
    }

    [Fact]
    public async Task HandlerHangs_TheGaugesShowTheRunningRecord_ItsAge_AndTheLagBehindIt()
    {
        var topic = _kafka.CreateTopic("metered-hang", 1);
        var group = TestKafka.Unique("group");
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _probe.Behavior = (context, _) => context.Key == "slow" ? release.Task : Task.CompletedTask;
        using var host = TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, _probe);
        var meters = host.Services.GetRequiredService<IMeterFactory>();
        using var running = Collect<long>(meters, "reliablekafka.consumer.running");
        using var oldest = Collect<double>(meters, "reliablekafka.consumer.oldest_running_age");
        using var lag = Collect<long>(meters, "reliablekafka.consumer.lag");
        using var beyond = Collect<long>(meters, "reliablekafka.consumer.finished_beyond_watermark");
        await host.StartAsync();

        using (var producer = KafkaClients.Producer(_kafka.BootstrapServers))
        {
            await producer.ProduceAsync(topic, new Message<string, string> { Key = "slow", Value = "0" });
            for (var i = 1; i <= 5; i++)
            {
                await producer.ProduceAsync(topic, new Message<string, string> { Key = $"fast{i}", Value = $"{i}" });
            }
        }

        // The five fast records finish beyond the hanging one: the watermark stays at offset 0, so the lag stays 6.
        await Eventually.UntilAsync(() => _probe.Handled.Count == 5, "the fast records handled");
        await Eventually.UntilAsync(
            () =>
            {
                lag.RecordObservableInstruments();
                return LastPerPartition(lag, topic).GetValueOrDefault("0") == 6;
            },
            "lag 6: nothing committable past the hanging record");
        await Task.Delay(300);
        beyond.RecordObservableInstruments();
        LastPerPartition(beyond, topic)["0"].Should().Be(5);
        running.RecordObservableInstruments();
        LastPerPartition(running, topic)["0"].Should().Be(1);
        oldest.RecordObservableInstruments();
        oldest.LastMeasurement!.Value.Should().BeGreaterThan(0.2, "the slow handler has been running since before the delay");
        oldest.LastMeasurement.Tags["messaging.consumer.group.name"].Should().Be(group);

        release.SetResult();
        await Eventually.UntilAsync(
            () =>
            {
                lag.RecordObservableInstruments();
                return LastPerPartition(lag, topic).GetValueOrDefault("0") == 0;
            },
            "lag 0 once the hanging record finished");
        running.RecordObservableInstruments();
        LastPerPartition(running, topic)["0"].Should().Be(0);
        oldest.RecordObservableInstruments();
        oldest.LastMeasurement!.Value.Should().Be(0);
        await host.StopAsync();
    }

    [Fact]
    public async Task CommitsRefused_TheFailuresAreCounted_WithTheError()
    {
        var cluster = _kafka.Cluster ?? throw new InvalidOperationException("This test injects errors into the embedded cluster.");
        var topic = _kafka.CreateTopic("metered-commit", 1);
        var group = TestKafka.Unique("group");
        using var host = TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, _probe);
        var meters = host.Services.GetRequiredService<IMeterFactory>();
        using var failures = Collect<long>(meters, "reliablekafka.consumer.commit_failures");
        await host.StartAsync();
        using (var producer = KafkaClients.Producer(_kafka.BootstrapServers))
        {
            await producer.ProduceAsync(topic, new Message<string, string> { Key = "a", Value = "0" });
            await Eventually.UntilAsync(() => _probe.Handled.Count == 1, "the first record handled");
            await Eventually.UntilAsync(() => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1).Values.Sum() == 1, "the first record committed");

            cluster.InjectRequestErrors(KafkaApi.OffsetCommit, ErrorCode.GroupAuthorizationFailed, ErrorCode.GroupAuthorizationFailed);
            await producer.ProduceAsync(topic, new Message<string, string> { Key = "a", Value = "1" });
        }

        await Eventually.UntilAsync(() => failures.GetMeasurementSnapshot().Sum(m => m.Value) >= 1, "a refused commit counted");
        failures.GetMeasurementSnapshot().Should().OnlyContain(m => (string?)m.Tags["error.type"] == nameof(ErrorCode.GroupAuthorizationFailed)
            && (string?)m.Tags["messaging.consumer.group.name"] == group);
        await Eventually.UntilAsync(() => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1).Values.Sum() == 2, "committed once the brokers accept commits again");
        await host.StopAsync();
    }

    private static MetricCollector<T> Collect<T>(IMeterFactory meters, string instrument)
        where T : struct => new(meters, ReliableKafkaDiagnostics.MeterName, instrument);

    /// <summary>The last value each partition of <paramref name="topic"/> reported, keyed by partition id.</summary>
    private static Dictionary<string, long> LastPerPartition(MetricCollector<long> collector, string topic) =>
        collector.GetMeasurementSnapshot()
            .Where(m => (string?)m.Tags["messaging.destination.name"] == topic)
            .GroupBy(m => (string)m.Tags["messaging.destination.partition.id"]!)
            .ToDictionary(g => g.Key, g => g.Last().Value);
}
