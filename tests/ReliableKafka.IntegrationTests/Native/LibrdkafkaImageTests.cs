using Confluent.Kafka;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.IntegrationTests.Infrastructure;
using ReliableKafka.Offsets.Internal;
using ReliableKafka.Testing;

namespace ReliableKafka.IntegrationTests.Native;

/// <summary>Every P/Invoke of ReliableKafka binds to the librdkafka image that Confluent.Kafka loaded: one image per process.</summary>
public sealed class LibrdkafkaImageTests
{
    [Fact]
    public async Task EveryNativeCall_AfterProducerConsumerCommitProbeAndCluster_UsesOneLibrdkafkaImage()
    {
        using var cluster = new EmbeddedKafkaCluster();
        var topic = TestKafka.Unique("one-image");
        cluster.CreateTopic(topic, 2);
        using (var producer = KafkaClients.Producer(cluster.BootstrapServers))
        {
            await producer.ProduceAsync(new TopicPartition(topic, 1), new Message<string, string> { Key = "k", Value = "v" });
        }

        // The config probe answers (an unknown key is reported, not silently accepted).
        var errors = new List<string>();
        KafkaClientConfigBuilder.CheckRawConfig(new Dictionary<string, string> { ["no.such.setting"] = "1", ["statistics.interval.ms"] = "0" }, "Test", KafkaClientConfigBuilder.ConfigScope.Global, errors);
        errors.Should().ContainSingle().Which.Should().Contain("'no.such.setting' is not a librdkafka setting");

        // A commit with metadata through the native offset store, on a consumer that owns the partitions, read back.
        var group = TestKafka.Unique("group");
        using var consumer = KafkaClients.Consumer(cluster.BootstrapServers, group);
        consumer.Subscribe(topic);
        await Eventually.UntilAsync(() => consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false }, "the consumer joined and fetched the record");
        var partitions = new[] { new TopicPartition(topic, 0), new TopicPartition(topic, 1) };
        var raw = new RawConsumerView(consumer);
        NativeGroupOffsetStore.Instance.Commit(raw, [new OffsetCommit(partitions[0], 0, null, "meta-0"), new OffsetCommit(partitions[1], 1, null, "v1;3,5")], TimeSpan.FromSeconds(10));
        var committed = NativeGroupOffsetStore.Instance.ReadCommitted(raw, partitions, TimeSpan.FromSeconds(10));
        committed.Should().BeEquivalentTo(new[] { new CommittedOffset(partitions[0], 0, "meta-0"), new CommittedOffset(partitions[1], 1, "v1;3,5") });
        consumer.Close();

        MappedLibrdkafkaFiles().Should().ContainSingle("the clients, the offset store, the probe and the embedded cluster share one librdkafka image");
    }

    /// <summary>The distinct files named like librdkafka that are mapped into this process.</summary>
    private static List<string> MappedLibrdkafkaFiles() =>
        [.. File.ReadAllLines("/proc/self/maps")
            .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var start and >= 0 ? line[start..] : null)
            .OfType<string>()
            .Where(path => Path.GetFileName(path).Contains("rdkafka", StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)];
}
