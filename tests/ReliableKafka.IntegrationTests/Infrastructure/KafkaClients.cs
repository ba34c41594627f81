using Confluent.Kafka;

namespace ReliableKafka.IntegrationTests.Infrastructure;

/// <summary>Plain Confluent.Kafka clients used to set up and check tests independently of the library.</summary>
internal static class KafkaClients
{
    /// <summary>Settings that make clients notice brokers coming back quickly.</summary>
    public static readonly IReadOnlyDictionary<string, string> FastReconnect = new Dictionary<string, string>
    {
        ["reconnect.backoff.ms"] = "50",
        ["reconnect.backoff.max.ms"] = "500",
        ["socket.connection.setup.timeout.ms"] = "1000",
    };

    public static IProducer<string, string> Producer(string bootstrapServers, Action<ProducerConfig>? configure = null)
    {
        var config = new ProducerConfig
        {
            BootstrapServers = bootstrapServers,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 0,
        };
        foreach (var (key, value) in FastReconnect)
        {
            config.Set(key, value);
        }

        configure?.Invoke(config);
        return new ProducerBuilder<string, string>(config).SetLogHandler(Ignore).Build();
    }

    public static IConsumer<string, string> Consumer(string bootstrapServers, string groupId)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = bootstrapServers,
            GroupId = groupId,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            FetchWaitMaxMs = 20,
            SessionTimeoutMs = 3000,
            HeartbeatIntervalMs = 500,
        };
        return new ConsumerBuilder<string, string>(config).SetLogHandler(Ignore).Build();
    }

    /// <summary>Drops librdkafka's log lines of the test's own clients (expected connection errors during faults).</summary>
    public static void Ignore<T>(T client, LogMessage message)
    {
    }

    /// <summary>Reads every record of a topic from the start until <paramref name="count"/> arrived.</summary>
    public static List<ConsumeResult<string, string>> ReadAll(string bootstrapServers, string topic, int count, TimeSpan? timeout = null)
    {
        using var consumer = Consumer(bootstrapServers, $"reader-{Guid.NewGuid():N}");
        consumer.Subscribe(topic);
        var results = new List<ConsumeResult<string, string>>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (results.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false } result)
            {
                results.Add(result);
            }
        }

        consumer.Close();
        return results;
    }

    /// <summary>Per partition, one past the last produced offset (Offset.Unset for a partition that got nothing), as committed offsets read.</summary>
    public static Dictionary<int, long> EndOffsets(IEnumerable<DeliveryResult<string, string>> produced, int partitions) =>
        Enumerable.Range(0, partitions).ToDictionary(
            p => p,
            p => produced.Where(r => r.Partition.Value == p).Select(r => r.Offset.Value + 1).DefaultIfEmpty(Offset.Unset.Value).Max());

    /// <summary>The group's committed offsets for the partitions of a topic (Offset.Unset where none).</summary>
    public static Dictionary<int, long> Committed(string bootstrapServers, string groupId, string topic, int partitions)
    {
        using var consumer = Consumer(bootstrapServers, groupId);
        var committed = consumer.Committed(
            Enumerable.Range(0, partitions).Select(p => new TopicPartition(topic, p)),
            TimeSpan.FromSeconds(10));
        return committed.ToDictionary(c => c.Partition.Value, c => c.Offset.Value);
    }
}
