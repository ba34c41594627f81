using Confluent.Kafka;
using Confluent.Kafka.Admin;
using ReliableKafka.Testing;

namespace ReliableKafka.IntegrationTests.Infrastructure;

/// <summary>
/// The Kafka a test runs against: a fresh embedded cluster by default, or the real broker named by
/// RELIABLEKAFKA_BOOTSTRAP_SERVERS. Topic and group names get a unique suffix per test.
/// Tests that inject faults create an <see cref="EmbeddedKafkaCluster"/> themselves.
/// </summary>
internal sealed class TestKafka : IDisposable
{
    public const string BootstrapVariable = "RELIABLEKAFKA_BOOTSTRAP_SERVERS";

    private TestKafka(EmbeddedKafkaCluster? cluster, string bootstrapServers)
    {
        Cluster = cluster;
        BootstrapServers = bootstrapServers;
    }

    public EmbeddedKafkaCluster? Cluster { get; }

    public string BootstrapServers { get; }

    public static TestKafka Start(int brokers = 3)
    {
        var external = Environment.GetEnvironmentVariable(BootstrapVariable);
        if (!string.IsNullOrWhiteSpace(external))
        {
            return new TestKafka(null, external);
        }

        var cluster = new EmbeddedKafkaCluster(new EmbeddedKafkaClusterOptions { BrokerCount = brokers });
        return new TestKafka(cluster, cluster.BootstrapServers);
    }

    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..12]}";

    public string CreateTopic(string prefix, int partitions) => CreateNamedTopic(Unique(prefix), partitions);

    /// <summary>Creates a topic with exactly this name (e.g. a dead-letter topic named after a source topic).</summary>
    public string CreateNamedTopic(string topic, int partitions)
    {
        if (Cluster is not null)
        {
            Cluster.CreateTopic(topic, partitions);
            return topic;
        }

        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = BootstrapServers }).SetLogHandler(KafkaClients.Ignore).Build();
        admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = 1 }])
            .GetAwaiter().GetResult();
        return topic;
    }

    public void Dispose() => Cluster?.Dispose();
}
