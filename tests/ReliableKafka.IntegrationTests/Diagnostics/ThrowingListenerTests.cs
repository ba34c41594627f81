using System.Diagnostics;
using System.Diagnostics.Metrics;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using ReliableKafka.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Diagnostics;

/// <summary>
/// An application's ActivityListener or MeterListener that throws costs its spans and measurements, never a record:
/// every record is still handled, dead-lettered and committed, and every send completes with its result.
/// </summary>
public sealed class ThrowingListenerTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestKafka _kafka = TestKafka.Start();
    private readonly HandlerProbe _probe = new();

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task ListenersThrowOnEverySpanAndMeasurement_RecordsAreStillHandledDeadLetteredAndCommitted()
    {
        var topic = _kafka.CreateTopic("throwing-listeners", 2);
        var deadLetters = _kafka.CreateNamedTopic(topic + ".dlt", 1);
        var group = TestKafka.Unique("group");
        bool Ours(string? name) => name is not null && name.StartsWith(topic, StringComparison.Ordinal);
        using var spans = new ActivityListener
        {
            ShouldListenTo = source => source.Name == ReliableKafkaDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = activity =>
            {
                if (Ours(activity.DisplayName))
                {
                    throw new InvalidOperationException("listener fails on start");
                }
            },
            ActivityStopped = activity =>
            {
                if (Ours(activity.DisplayName))
                {
                    throw new InvalidOperationException("listener fails on stop");
                }
            },
        };
        ActivitySource.AddActivityListener(spans);
        var thrown = 0;
        using var measurements = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == ReliableKafkaDiagnostics.MeterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        void Throw(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Value is string value && (Ours(value) || value == group))
                {
                    Interlocked.Increment(ref thrown);
                    throw new InvalidOperationException("listener fails on measurement");
                }
            }
        }

        measurements.SetMeasurementEventCallback<long>((_, _, tags, _) => Throw(tags));
        measurements.SetMeasurementEventCallback<double>((_, _, tags, _) => Throw(tags));
        measurements.Start();

        _probe.Behavior = (context, _) => context.Value.StartsWith("bad", StringComparison.Ordinal) ? throw new InvalidOperationException("bad record") : Task.CompletedTask;
        using var host = TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, _probe, o => o.Retry.MaxAttempts = 2, kafka => kafka.AddProducer<string, string>());
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
        var sent = new List<ProduceResult>();
        for (var i = 0; i < 20; i++)
        {
            sent.Add(await producer.ProduceAsync(topic, $"k{i % 5}", i % 10 == 9 ? $"bad{i}" : $"v{i}"));
        }

        sent.Should().OnlyContain(r => r.Status == PersistenceStatus.Persisted);
        await Eventually.UntilAsync(() => _probe.Handled.Count == 18, "every good record handled");
        var ends = KafkaClients.EndOffsets(sent.Select(r => new DeliveryResult<string, string> { TopicPartitionOffset = r.TopicPartitionOffset }), 2);
        await Eventually.UntilAsync(
            () => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2).All(c => c.Value == ends.GetValueOrDefault(c.Key)),
            "every partition committed to its end, the bad records dead-lettered");
        await host.StopAsync();

        KafkaClients.ReadAll(_kafka.BootstrapServers, deadLetters, 2).Select(r => r.Message.Value).Should().BeEquivalentTo(["bad9", "bad19"]);
        _probe.Handled.Select(h => h.Value).Should().OnlyHaveUniqueItems();
        thrown.Should().BeGreaterThan(0, "the listener did throw");
    }
}
