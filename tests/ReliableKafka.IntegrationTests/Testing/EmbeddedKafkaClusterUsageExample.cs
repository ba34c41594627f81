using Confluent.Kafka;
using ReliableKafka.Testing;

namespace ReliableKafka.IntegrationTests.Testing;

/// <summary>The README's example of ReliableKafka.Testing (copied from the snippet region below), kept compiling and passing.</summary>
public sealed class EmbeddedKafkaClusterUsageExample
{
    [Fact]
    public async Task ReadmeExample_BrokerDownThenUp_ProduceCompletes()
    {
        // snippet: embedded-cluster
        using var cluster = new EmbeddedKafkaCluster(new EmbeddedKafkaClusterOptions { BrokerCount = 3 });
        cluster.CreateTopic("orders", partitions: 1);

        var config = new ProducerConfig { BootstrapServers = cluster.BootstrapServers, EnableIdempotence = true };
        using var producer = new ProducerBuilder<string, string>(config).Build();
        await producer.ProduceAsync("orders", new Message<string, string> { Key = "k", Value = "first" });

        // Make the next produce request fail once with a retriable error: the idempotent producer retries it.
        cluster.InjectRequestErrors(KafkaApi.Produce, ErrorCode.NotLeaderForPartition);
        var result = await producer.ProduceAsync("orders", new Message<string, string> { Key = "k", Value = "second" });
        // end snippet

        result.Status.Should().Be(PersistenceStatus.Persisted);
        result.Offset.Value.Should().Be(1);
    }
}
