using System.Globalization;
using System.Text;

namespace ReliableKafka.Configuration.Internal;

/// <summary>Facts about librdkafka setting names: aliases, which typed option owns a key, which values are secret.</summary>
internal static class KafkaConfigKeys
{
    internal const string BootstrapServers = "bootstrap.servers";
    internal const string ClientId = "client.id";
    internal const string AcksKey = "acks";
    internal const string EnableIdempotence = "enable.idempotence";
    internal const string MaxInFlight = "max.in.flight";
    internal const string Retries = "retries";
    internal const string GroupId = "group.id";
    internal const string GroupInstanceId = "group.instance.id";
    internal const string EnablePartitionEof = "enable.partition.eof";
    internal const string EnableAutoCommit = "enable.auto.commit";
    internal const string EnableAutoOffsetStore = "enable.auto.offset.store";
    internal const string TransactionalId = "transactional.id";
    internal const string DeliveryReports = "dotnet.producer.enable.delivery.reports";
    internal const string DeliveryReportFields = "dotnet.producer.delivery.report.fields";
    internal const string BackgroundPoll = "dotnet.producer.enable.background.poll";
    internal const string DeliveryReportOnlyError = "delivery.report.only.error";
    internal const string Redacted = "***";

    // librdkafka aliases (CONFIGURATION.md, "Alias for ..."): both names set the same property, so every rule
    // below looks at one canonical name, the one Kafka's Java client uses.
    private static readonly Dictionary<string, string> Aliases = new(StringComparer.Ordinal)
    {
        ["metadata.broker.list"] = BootstrapServers,
        ["max.in.flight.requests.per.connection"] = MaxInFlight,
        ["sasl.mechanisms"] = "sasl.mechanism",
        ["sasl.oauthbearer.client.credentials.client.id"] = "sasl.oauthbearer.client.id",
        ["sasl.oauthbearer.client.credentials.client.secret"] = "sasl.oauthbearer.client.secret",
        ["fetch.message.max.bytes"] = "max.partition.fetch.bytes",
        ["queue.buffering.max.ms"] = "linger.ms",
        ["message.send.max.retries"] = Retries,
        ["compression.codec"] = "compression.type",
        ["request.required.acks"] = AcksKey,
        ["delivery.timeout.ms"] = "message.timeout.ms",
        ["auto.commit.enable"] = EnableAutoCommit,
    };

    // Confluent.Kafka's own settings (not librdkafka's); librdkafka would call them unknown.
    private static readonly HashSet<string> ConfluentKeys = new(StringComparer.Ordinal)
    {
        BackgroundPoll,
        DeliveryReports,
        DeliveryReportFields,
        "dotnet.consumer.consume.result.fields",
        "dotnet.cancellation.delay.max.ms",
    };

    /// <summary>Keys that typed options of <see cref="ReliableKafkaOptions"/> own, with the option's path.</summary>
    internal static readonly IReadOnlyDictionary<string, string> GlobalOwned = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [BootstrapServers] = "BootstrapServers",
        [ClientId] = "ClientId",
        ["security.protocol"] = "Security:Protocol",
        ["sasl.mechanism"] = "Security:SaslMechanism",
        ["sasl.username"] = "Security:SaslUsername",
        ["sasl.password"] = "Security:SaslPassword",
        ["ssl.ca.location"] = "Security:SslCaLocation",
        ["ssl.certificate.location"] = "Security:SslCertificateLocation",
        ["ssl.key.location"] = "Security:SslKeyLocation",
        ["ssl.key.password"] = "Security:SslKeyPassword",
    };

    /// <summary>Keys that typed options of <see cref="ProducerOptions"/> own.</summary>
    internal static readonly IReadOnlyDictionary<string, string> ProducerOwned = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [ClientId] = "ClientId",
        [AcksKey] = "Acks",
        ["linger.ms"] = "Linger",
        ["batch.size"] = "BatchSize",
        ["compression.type"] = "Compression",
        ["message.timeout.ms"] = "MessageTimeout",
    };

    /// <summary>Keys that typed options of <see cref="ConsumerOptions"/> own.</summary>
    internal static readonly IReadOnlyDictionary<string, string> ConsumerOwned = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [ClientId] = "ClientId",
        ["group.id"] = "GroupId",
        ["auto.offset.reset"] = "AutoOffsetReset",
        ["session.timeout.ms"] = "SessionTimeout",
        ["heartbeat.interval.ms"] = "HeartbeatInterval",
        ["max.poll.interval.ms"] = "MaxPollInterval",
        ["fetch.min.bytes"] = "FetchMinBytes",
        ["fetch.max.bytes"] = "FetchMaxBytes",
        ["max.partition.fetch.bytes"] = "MaxPartitionFetchBytes",
        ["fetch.wait.max.ms"] = "FetchWaitMax",
        ["partition.assignment.strategy"] = "PartitionAssignmentStrategy",
    };

    // Global settings whose names start with "topic." (rdkafka_conf.c). Any other "topic."-prefixed name is a topic
    // setting: librdkafka, finding no global setting of that name, strips the prefix and sets it on the default
    // topic configuration, so "topic.acks" is acks.
    private static readonly HashSet<string> GlobalTopicPrefixed = new(StringComparer.Ordinal)
    {
        "topic.metadata.refresh.interval.ms",
        "topic.metadata.refresh.fast.interval.ms",
        "topic.metadata.refresh.fast.cnt",
        "topic.metadata.refresh.sparse",
        "topic.metadata.propagation.max.ms",
        "topic.blacklist",
    };

    /// <summary>
    /// Maps a name to the one the rules use: librdkafka's <c>topic.</c> prefix of topic settings is removed, then an
    /// alias is replaced by its canonical name; other keys are returned unchanged.
    /// </summary>
    internal static string Canonicalize(string key)
    {
        if (key.StartsWith("topic.", StringComparison.Ordinal) && !GlobalTopicPrefixed.Contains(key))
        {
            key = key["topic.".Length..];
        }

        return Aliases.TryGetValue(key, out var canonical) ? canonical : key;
    }

    /// <summary>Whether the key is one of Confluent.Kafka's own (dotnet.*) settings rather than librdkafka's.</summary>
    internal static bool IsConfluentKey(string key) => ConfluentKeys.Contains(key);

    /// <summary>Whether the key names a Confluent.Kafka setting that does not exist.</summary>
    internal static bool IsUnknownConfluentKey(string key) =>
        key.StartsWith("dotnet.", StringComparison.Ordinal) && !ConfluentKeys.Contains(key);

    /// <summary>Whether values of this key are credentials that must never appear in logs or messages.</summary>
    internal static bool IsSecret(string key)
    {
        var k = key.ToLowerInvariant();
        return k.Contains("password", StringComparison.Ordinal)
            || k.Contains("secret", StringComparison.Ordinal)
            || k.Contains("passphrase", StringComparison.Ordinal)
            || k.Contains("private.key", StringComparison.Ordinal)
            || k is "ssl.key.pem" or "ssl_key" or "sasl.oauthbearer.config" or "sasl.oauthbearer.extensions"
            || k.StartsWith("ssl.keystore", StringComparison.Ordinal);
    }

    /// <summary>Renders <c>key=value</c>, with the value replaced by <c>***</c> for secrets.</summary>
    internal static string Describe(string key, string? value) => $"{key}={(IsSecret(key) ? Redacted : value)}";

    /// <summary>Renders a whole configuration for a log line, secrets redacted, keys sorted.</summary>
    internal static string DescribeAll(IEnumerable<KeyValuePair<string, string>> config)
    {
        var builder = new StringBuilder();
        foreach (var (key, value) in config.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (builder.Length > 0)
            {
                builder.Append(", ");
            }

            builder.Append(Describe(key, value));
        }

        return builder.ToString();
    }

    /// <summary>Removes a secret value from a text (e.g. an error message that echoes it).</summary>
    internal static string RedactValue(string text, string key, string value) =>
        IsSecret(key) && value.Length > 0 ? text.Replace(value, Redacted, StringComparison.Ordinal) : text;

    /// <summary>Parses a librdkafka boolean ("true"/"false", "t"/"f", "1"/"0").</summary>
    internal static bool? ParseBool(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        "true" or "t" or "1" => true,
        "false" or "f" or "0" => false,
        _ => null,
    };

    /// <summary>Parses a librdkafka integer.</summary>
    internal static long? ParseLong(string? value) =>
        long.TryParse(value?.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null;

    /// <summary>Parses acks: "all" is -1.</summary>
    internal static long? ParseAcks(string? value) =>
        string.Equals(value?.Trim(), "all", StringComparison.OrdinalIgnoreCase) ? -1 : ParseLong(value);
}
