using Confluent.Kafka;
using Confluent.Kafka.Admin;
using ReliableKafka;
using ReliableKafka.Testing;

namespace OrderProcessing;

/// <summary>
/// The Kafka the demo talks to: the configured one (ReliableKafka:BootstrapServers or --bootstrap-servers),
/// or else an embedded cluster started here. Creates the orders topic and its dead-letter topic either way (existing ones are kept).
/// </summary>
public sealed class DemoKafka : IAsyncDisposable
{
    private readonly EmbeddedKafkaCluster? _cluster;

    private DemoKafka(EmbeddedKafkaCluster? cluster, string bootstrapServers, string topic, string description)
    {
        _cluster = cluster;
        BootstrapServers = bootstrapServers;
        Topic = topic;
        Description = description;
    }

    public string BootstrapServers { get; }

    public string Topic { get; }

    public string Description { get; }

    public static DemoKafka Start(IConfigurationManager configuration)
    {
        var demo = configuration.GetSection("Demo").Get<DemoOptions>() ?? new DemoOptions();
        var topic = configuration[$"{ReliableKafkaOptions.SectionName}:Consumers:orders:Topics:0"]
            ?? throw new InvalidOperationException("Configure ReliableKafka:Consumers:orders:Topics (see appsettings.json).");
        var bootstrapServers = configuration[$"{ReliableKafkaOptions.SectionName}:BootstrapServers"];

        if (string.IsNullOrWhiteSpace(bootstrapServers))
        {
            var cluster = new EmbeddedKafkaCluster(new EmbeddedKafkaClusterOptions { BrokerCount = 3 });
            cluster.CreateTopic(topic, demo.Partitions);
            cluster.CreateTopic(topic + ".dlt", 1); // where orders that fail for good go (the consumer's default DeadLetter policy)
            configuration[$"{ReliableKafkaOptions.SectionName}:BootstrapServers"] = cluster.BootstrapServers;
            return new DemoKafka(cluster, cluster.BootstrapServers, topic, $"embedded Kafka cluster, 3 brokers at {cluster.BootstrapServers}");
        }

        CreateTopicIfMissing(bootstrapServers, topic, demo.Partitions);
        CreateTopicIfMissing(bootstrapServers, topic + ".dlt", 1);
        return new DemoKafka(null, bootstrapServers, topic, $"Kafka at {bootstrapServers}");
    }

    public ValueTask DisposeAsync()
    {
        _cluster?.Dispose();
        return ValueTask.CompletedTask;
    }

    private static void CreateTopicIfMissing(string bootstrapServers, string topic, int partitions)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrapServers }).Build();
        var existing = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.SingleOrDefault(t => t.Topic == topic);
        if (existing is { Error.IsError: false, Partitions.Count: > 0 })
        {
            return;
        }

        try
        {
            admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = -1 }])
                .GetAwaiter().GetResult();
        }
        catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code == ErrorCode.TopicAlreadyExists))
        {
            // Created meanwhile: kept as it is.
        }
    }
}
