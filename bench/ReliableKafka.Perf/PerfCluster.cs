using Confluent.Kafka;
using Confluent.Kafka.Admin;
using ReliableKafka.Testing;

namespace ReliableKafka.Perf;

/// <summary>Where the benchmark runs: a given cluster, or an embedded one (librdkafka's mock, 3 brokers).</summary>
internal sealed class PerfCluster : IDisposable
{
    private readonly EmbeddedKafkaCluster? _embedded;

    private PerfCluster(EmbeddedKafkaCluster? embedded, string bootstrapServers)
    {
        _embedded = embedded;
        BootstrapServers = bootstrapServers;
    }

    public string BootstrapServers { get; }

    public bool IsEmbedded => _embedded is not null;

    public string Description => IsEmbedded ? $"embedded Kafka cluster (librdkafka mock, 3 brokers, {Environment.ProcessorCount} cores)" : $"Kafka at {BootstrapServers}";

    public static PerfCluster Open(string? bootstrapServers)
    {
        if (!string.IsNullOrWhiteSpace(bootstrapServers))
        {
            return new PerfCluster(null, bootstrapServers);
        }

        var cluster = new EmbeddedKafkaCluster(new EmbeddedKafkaClusterOptions { BrokerCount = 3 });
        return new PerfCluster(cluster, cluster.BootstrapServers);
    }

    /// <summary>Creates a topic with a unique name (a given topic on a real cluster is used as it is, and created if missing).</summary>
    public string CreateTopic(string? topic, string prefix, int partitions)
    {
        var name = topic ?? $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";
        if (_embedded is not null)
        {
            _embedded.CreateTopic(name, partitions);
            return name;
        }

        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = BootstrapServers }).Build();
        try
        {
            admin.CreateTopicsAsync([new TopicSpecification { Name = name, NumPartitions = partitions, ReplicationFactor = -1 }]).GetAwaiter().GetResult();
        }
        catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code == ErrorCode.TopicAlreadyExists))
        {
            // Used as it is.
        }

        return name;
    }

    public void Dispose() => _embedded?.Dispose();
}
