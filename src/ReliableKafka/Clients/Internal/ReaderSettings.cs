using ReliableKafka.Configuration.Internal;

namespace ReliableKafka.Clients.Internal;

/// <summary>
/// The settings of a short-lived or auxiliary reader that assigns partitions itself (no group membership): every
/// setting of the consumer it serves, so that it connects, authenticates and reads exactly as that consumer does, but a
/// group id of its own, no static membership, nothing committed or stored, and fetches that return at once.
/// </summary>
internal static class ReaderSettings
{
    private const string FetchMinBytes = "fetch.min.bytes";
    private const string FetchWaitMax = "fetch.wait.max.ms";
    private const string AutoOffsetReset = "auto.offset.reset";
    private const string IsolationLevel = "isolation.level";

    /// <param name="consumerConfig">The settings of the consumer the reader serves.</param>
    /// <param name="clientIdSuffix">Appended to the consumer's client id.</param>
    /// <param name="groupPrefix">The reader's group id, before a random suffix.</param>
    /// <param name="partitionEof">Whether the reader gets end-of-partition events.</param>
    /// <param name="readEverything">
    /// Whether the reader reads every record whatever the consumer's own settings: from the start of a partition
    /// without a position, and records of open or aborted transactions too (the library's own topics, written without
    /// transactions).
    /// </param>
    public static List<KeyValuePair<string, string>> From(KafkaClientConfig consumerConfig, string clientIdSuffix, string groupPrefix, bool partitionEof, bool readEverything = false)
    {
        var settings = consumerConfig.Values
            .Where(kv => kv.Key is not (KafkaConfigKeys.GroupId or KafkaConfigKeys.GroupInstanceId or KafkaConfigKeys.ClientId
                or KafkaConfigKeys.EnableAutoCommit or KafkaConfigKeys.EnableAutoOffsetStore or KafkaConfigKeys.EnablePartitionEof
                or FetchMinBytes or FetchWaitMax))
            .Where(kv => !readEverything || kv.Key is not (AutoOffsetReset or IsolationLevel))
            .ToList();
        if (readEverything)
        {
            settings.Add(new(AutoOffsetReset, "earliest"));
            settings.Add(new(IsolationLevel, "read_uncommitted"));
        }

        var clientId = consumerConfig.Values.TryGetValue(KafkaConfigKeys.ClientId, out var id) ? id : "reliablekafka";
        settings.Add(new(KafkaConfigKeys.ClientId, $"{clientId}-{clientIdSuffix}"));
        settings.Add(new(KafkaConfigKeys.GroupId, $"{groupPrefix}-{Guid.NewGuid():N}"));
        settings.Add(new(KafkaConfigKeys.EnableAutoCommit, "false"));
        settings.Add(new(KafkaConfigKeys.EnableAutoOffsetStore, "false"));
        settings.Add(new(KafkaConfigKeys.EnablePartitionEof, partitionEof ? "true" : "false"));

        // Reads to the end: fetch tuning for throughput (waiting for more bytes) would only slow it down.
        settings.Add(new(FetchMinBytes, "1"));
        settings.Add(new(FetchWaitMax, "100"));
        return settings;
    }
}
