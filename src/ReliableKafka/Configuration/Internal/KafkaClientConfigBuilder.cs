using System.Globalization;
using Confluent.Kafka;
using static ReliableKafka.Configuration.Internal.KafkaConfigKeys;

namespace ReliableKafka.Configuration.Internal;

/// <summary>
/// Assembles a client's librdkafka settings (global options, raw global settings, client options, raw client
/// settings, then the guarantee's preset for what is still unset) and checks them against the guarantee.
/// Nothing is overwritten silently: a raw setting that contradicts the guarantee is an error.
/// </summary>
internal static class KafkaClientConfigBuilder
{
    internal const string RootPath = ReliableKafkaOptions.SectionName;
    private const string DefaultClientId = "reliablekafka";
    private const long LibrdkafkaDefaultMaxInFlight = 1_000_000;
    private const long LibrdkafkaDefaultRetries = int.MaxValue;

    /// <summary>Which typed options can own a raw key found in a Config dictionary.</summary>
    internal enum ConfigScope
    {
        /// <summary><see cref="ReliableKafkaOptions.Config"/>: applies to every client.</summary>
        Global,

        /// <summary><see cref="KafkaClusterOptions.Config"/>: applies to the clients of one named cluster.</summary>
        Cluster,

        /// <summary><see cref="ProducerOptions.Config"/>.</summary>
        Producer,

        /// <summary><see cref="ConsumerOptions.Config"/>.</summary>
        Consumer,
    }

    internal static string ProducerPath(string name) => $"{RootPath}:Producers:{name}";

    internal static string ConsumerPath(string name) => $"{RootPath}:Consumers:{name}";

    internal static string ClusterPath(string name) => $"{RootPath}:Clusters:{name}";

    /// <summary>
    /// Checks a raw Config dictionary on its own: keys that a typed option owns, keys librdkafka does not know,
    /// values it rejects, and settings ReliableKafka does not support.
    /// </summary>
    internal static void CheckRawConfig(IReadOnlyDictionary<string, string> raw, string path, ConfigScope scope, List<string> errors)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in raw)
        {
            if (string.IsNullOrWhiteSpace(key))
            {
                errors.Add($"{path}:Config has an empty key.");
                continue;
            }

            var canonical = Canonicalize(key);
            if (seen.TryGetValue(canonical, out var other))
            {
                errors.Add($"{path}:Config sets '{canonical}' twice, as '{other}' and '{key}' (librdkafka aliases); keep one.");
            }

            seen[canonical] = key;

            if (OwnerOf(canonical, scope, path) is { } owner)
            {
                errors.Add($"{path}:Config key '{key}' is set through the option {owner}; set that option instead.");
                continue;
            }

            if (canonical == TransactionalId)
            {
                errors.Add($"{path}:Config key '{key}': transactional producers are not supported yet (Kafka-to-Kafka transactions come in a later release).");
                continue;
            }

            if (canonical == DeliveryReportFields)
            {
                errors.Add($"{path}:Config key '{key}' is set by ReliableKafka (delivery reports carry only the status and timestamp it needs).");
                continue;
            }

            if (canonical == DeliveryReports && ParseBool(value) == false)
            {
                errors.Add($"{path}:Config {Describe(key, value)}: ProduceAsync completes on delivery reports; they cannot be turned off.");
                continue;
            }

            if (canonical == DeliveryReportOnlyError && ParseBool(value) == true)
            {
                errors.Add($"{path}:Config {Describe(key, value)}: ProduceAsync completes on delivery reports; with only failures reported, a successful send would never complete.");
                continue;
            }

            if (canonical == BackgroundPoll && ParseBool(value) == false)
            {
                errors.Add($"{path}:Config {Describe(key, value)}: delivery reports would be served only by Flush, so ProduceAsync would not complete until then; the producer must poll in the background.");
                continue;
            }

            if (IsUnknownConfluentKey(key))
            {
                errors.Add($"{path}:Config key '{key}' is not a Confluent.Kafka or librdkafka setting.");
                continue;
            }

            if (IsConfluentKey(key))
            {
                continue;
            }

            switch (LibrdkafkaConfigProbe.Check(key, value ?? string.Empty, out var librdkafkaError))
            {
                case LibrdkafkaConfigProbe.Result.UnknownKey:
                    errors.Add($"{path}:Config key '{key}' is not a librdkafka setting.");
                    break;
                case LibrdkafkaConfigProbe.Result.InvalidValue:
                    errors.Add($"{path}:Config {Describe(key, value)} is rejected by librdkafka: {RedactValue(librdkafkaError ?? "invalid value", key, value ?? string.Empty)}");
                    break;
                case LibrdkafkaConfigProbe.Result.Unavailable:
                    errors.Add($"{path}:Config key '{key}' could not be checked because librdkafka could not be loaded: {librdkafkaError}");
                    break;
                case LibrdkafkaConfigProbe.Result.Accepted:
                default:
                    break;
            }
        }
    }

    /// <summary>Assembles and checks a producer's settings.</summary>
    internal static KafkaClientConfig BuildProducer(ReliableKafkaOptions root, string name, ProducerOptions options)
    {
        var (config, guarantee, errors) = Begin(root, ProducerPath(name), name, options.DeliveryGuarantee, options.ClientId, options.Cluster);
        config.SetOption("linger.ms", Milliseconds(options.Linger), "Linger");
        config.SetOption("batch.size", Invariant(options.BatchSize), "BatchSize");
        config.SetOption("compression.type", ToKafka(options.Compression, config.Path, "Compression", errors), "Compression");
        config.SetOption("message.timeout.ms", Milliseconds(options.MessageTimeout), "MessageTimeout");
        if (options.Acks is { } acks)
        {
            config.SetOption(AcksKey, ToKafka(acks, config.Path, "Acks", errors), "Acks");
        }

        config.SetRaw(options.Config, $"{config.Path}:Config");

        if (guarantee == DeliveryGuarantee.AtMostOnce)
        {
            config.SetPreset(AcksKey, "0", guarantee);
            config.SetPreset(EnableIdempotence, "false", guarantee);
            config.SetPreset(Retries, "0", guarantee);
        }
        else
        {
            config.SetPreset(AcksKey, "all", guarantee);
            config.SetPreset(EnableIdempotence, "true", guarantee);
            config.SetPreset(MaxInFlight, "5", guarantee);
            config.SetPreset(Retries, Invariant(int.MaxValue), guarantee);
        }

        // ProduceAsync needs only the status and timestamp of a delivery report; not marshalling the key, value
        // and headers back from librdkafka saves a copy of each per message.
        config.SetPreset(DeliveryReportFields, "status,timestamp", guarantee);

        CheckProducerRules(config, guarantee, errors);
        return config.ToClientConfig(name, guarantee, errors);
    }

    /// <summary>Assembles and checks a consumer's settings.</summary>
    internal static KafkaClientConfig BuildConsumer(ReliableKafkaOptions root, string name, ConsumerOptions options)
    {
        var (config, guarantee, errors) = Begin(root, ConsumerPath(name), name, options.DeliveryGuarantee, options.ClientId, options.Cluster);
        var path = config.Path;
        if (!string.IsNullOrWhiteSpace(options.GroupId))
        {
            config.SetOption("group.id", options.GroupId, "GroupId");
        }

        config.SetOption("auto.offset.reset", ToKafka(options.AutoOffsetReset, path, "AutoOffsetReset", errors), "AutoOffsetReset");
        config.SetOption("session.timeout.ms", Milliseconds(options.SessionTimeout), "SessionTimeout");
        config.SetOption("heartbeat.interval.ms", Milliseconds(options.HeartbeatInterval), "HeartbeatInterval");
        config.SetOption("max.poll.interval.ms", Milliseconds(options.MaxPollInterval), "MaxPollInterval");
        config.SetOption("fetch.min.bytes", Invariant(options.FetchMinBytes), "FetchMinBytes");
        config.SetOption("fetch.max.bytes", Invariant(options.FetchMaxBytes), "FetchMaxBytes");
        config.SetOption("max.partition.fetch.bytes", Invariant(options.MaxPartitionFetchBytes), "MaxPartitionFetchBytes");
        config.SetOption("fetch.wait.max.ms", Milliseconds(options.FetchWaitMax), "FetchWaitMax");
        config.SetOption(
            "partition.assignment.strategy",
            ToKafka(options.PartitionAssignmentStrategy, path, "PartitionAssignmentStrategy", errors),
            "PartitionAssignmentStrategy");

        config.SetRaw(options.Config, $"{path}:Config");

        // The engine stores and commits offsets itself under every guarantee.
        config.SetPreset(EnableAutoCommit, "false", guarantee);
        config.SetPreset(EnableAutoOffsetStore, "false", guarantee);

        CheckConsumerRules(config, options, guarantee, errors);
        return config.ToClientConfig(name, guarantee, errors);
    }

    /// <summary>Starts a client's settings: resolves its guarantee, then adds its cluster's connection and raw settings.</summary>
    private static (Assembly Config, DeliveryGuarantee Guarantee, List<string> Errors) Begin(
        ReliableKafkaOptions root, string path, string name, DeliveryGuarantee? ownGuarantee, string? clientId, string? cluster)
    {
        var errors = new List<string>();
        var guarantee = ResolveGuarantee(ownGuarantee, root, path, errors);
        var config = new Assembly(path);
        config.SetOption(ClientId, clientId ?? $"{root.ClientId ?? DefaultClientId}-{name}", clientId is null ? $"{RootPath}:ClientId" : "ClientId");
        AddConnection(config, root, cluster, errors);
        return (config, guarantee, errors);
    }

    /// <summary>
    /// Finds the cluster a client names: null for the default cluster, else its options and path, or an error when
    /// it is not configured.
    /// </summary>
    internal static (KafkaClusterOptions? Options, string? Path) FindCluster(ReliableKafkaOptions root, string? cluster, string clientPath, List<string> errors)
    {
        if (cluster is null)
        {
            return (null, null);
        }

        if (string.IsNullOrWhiteSpace(cluster))
        {
            errors.Add($"{clientPath}: Cluster is empty; leave it unset for the default cluster, or name one of {RootPath}:Clusters.");
            return (null, null);
        }

        if (root.Clusters.TryGetValue(cluster, out var options) && options is not null)
        {
            return (options, ClusterPath(cluster));
        }

        var known = root.Clusters.Count == 0 ? "none is configured" : $"configured: {string.Join(", ", root.Clusters.Keys.Order(StringComparer.Ordinal))}";
        errors.Add($"{clientPath}: Cluster '{cluster}' is not configured under {RootPath}:Clusters ({known}).");
        return (null, null);
    }

    private static void CheckProducerRules(Assembly config, DeliveryGuarantee guarantee, List<string> errors)
    {
        var idempotent = ParseBool(config.Get(EnableIdempotence)) ?? false;
        var acks = ParseAcks(config.Get(AcksKey)) ?? -1;
        var maxInFlight = ParseLong(config.Get(MaxInFlight)) ?? LibrdkafkaDefaultMaxInFlight;
        var retries = ParseLong(config.Get(Retries)) ?? LibrdkafkaDefaultRetries;
        var flagged = new HashSet<string>(StringComparer.Ordinal);

        void Contradiction(string key, string why)
        {
            flagged.Add(key);
            errors.Add($"{config.Path}: {config.Show(key)} contradicts DeliveryGuarantee {guarantee}: {why}");
        }

        if (guarantee != DeliveryGuarantee.AtMostOnce)
        {
            if (!idempotent)
            {
                Contradiction(EnableIdempotence, "it needs the idempotent producer so that retries neither duplicate nor reorder messages.");
            }

            if (acks != -1)
            {
                Contradiction(AcksKey, "it requires acks=all; a write acknowledged by fewer replicas is lost if the leader fails.");
            }

            if (retries <= 0)
            {
                Contradiction(Retries, "a transient broker error would lose the message; it requires retries.");
            }
        }
        else if (guarantee == DeliveryGuarantee.AtMostOnce)
        {
            if (idempotent)
            {
                Contradiction(EnableIdempotence, "the idempotent producer retries, and a retried message may be written twice.");
            }

            if (retries > 0)
            {
                Contradiction(
                    Retries,
                    maxInFlight > 1
                        ? $"a retried message may be written twice, and with {Describe(MaxInFlight, Invariant(maxInFlight))} and no idempotence also out of order; it requires retries=0."
                        : "a retried message may be written twice; it requires retries=0.");
            }
        }

        // AtLeastOnce requires idempotence and AtMostOnce forbids retries, so retries reordering batches
        // (retries > 0, several requests in flight, no idempotence) is caught by the guarantee rules above.
        if (idempotent && acks != -1 && !flagged.Contains(AcksKey))
        {
            errors.Add($"{config.Path}: {config.Show(AcksKey)} with enable.idempotence=true: the idempotent producer requires acks=all.");
        }

        // Unset, librdkafka lowers its default (1000000) to 5 for the idempotent producer by itself.
        if (idempotent && config.Get(MaxInFlight) is not null && maxInFlight > 5)
        {
            errors.Add($"{config.Path}: {config.Show(MaxInFlight)} with enable.idempotence=true: the idempotent producer allows at most 5 requests in flight per connection.");
        }
    }

    private static void CheckConsumerRules(Assembly config, ConsumerOptions options, DeliveryGuarantee guarantee, List<string> errors)
    {
        var path = config.Path;
        var why = guarantee == DeliveryGuarantee.AtMostOnce
            ? "the consumer commits each record's offset itself, before its handler runs."
            : "offsets are committed only after the handler succeeded.";
        foreach (var key in new[] { EnableAutoCommit, EnableAutoOffsetStore })
        {
            if (ParseBool(config.Get(key)) != false)
            {
                errors.Add($"{path}: {config.Show(key)} contradicts DeliveryGuarantee {guarantee}: {why}");
            }
        }

        if (options.HeartbeatInterval.TotalMilliseconds * 3 > options.SessionTimeout.TotalMilliseconds)
        {
            errors.Add($"{path}: HeartbeatInterval ({Ms(options.HeartbeatInterval)} ms) must be at most one third of SessionTimeout ({Ms(options.SessionTimeout)} ms).");
        }

        if (options.SessionTimeout > options.MaxPollInterval)
        {
            errors.Add($"{path}: SessionTimeout ({Ms(options.SessionTimeout)} ms) must not exceed MaxPollInterval ({Ms(options.MaxPollInterval)} ms).");
        }

        if (options.RevocationTimeout >= options.MaxPollInterval)
        {
            errors.Add($"{path}: RevocationTimeout ({Ms(options.RevocationTimeout)} ms) must be shorter than MaxPollInterval ({Ms(options.MaxPollInterval)} ms).");
        }

        if (!Enum.IsDefined(options.OrderingMode))
        {
            errors.Add($"{path}: OrderingMode ({(int)options.OrderingMode}) is not a known mode; use Key, Partition or None.");
        }

        CheckTopics(options.Topics, path, errors);
    }

    private static void CheckTopics(List<string> topics, string path, List<string> errors)
    {
        if (topics.Count == 0)
        {
            errors.Add($"{path}: Topics must name at least one topic.");
            return;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < topics.Count; i++)
        {
            var topic = topics[i];
            if (string.IsNullOrWhiteSpace(topic))
            {
                errors.Add($"{path}: Topics[{i}] is empty.");
            }
            else if (!seen.Add(topic))
            {
                errors.Add($"{path}: Topics lists '{topic}' twice.");
            }
            else if (!topic.StartsWith('^') && !IsLegalTopicName(topic))
            {
                errors.Add($"{path}: Topics[{i}] ('{topic}') is not a valid topic name: use at most 249 of a-z, A-Z, 0-9, '.', '_' and '-' (or start with '^' for a regular expression).");
            }
        }
    }

    private static bool IsLegalTopicName(string topic) =>
        topic.Length <= 249 && topic is not ("." or "..") &&
        topic.All(c => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-');

    /// <summary>
    /// Checks a guarantee chosen at <paramref name="where"/>; returns the one to build with (AtLeastOnce when
    /// the choice is not usable, so that the remaining checks still run).
    /// </summary>
    internal static DeliveryGuarantee CheckGuarantee(DeliveryGuarantee guarantee, string where, List<string> errors)
    {
        if (!Enum.IsDefined(guarantee))
        {
            errors.Add($"{where} ({(int)guarantee}) is not a known guarantee; use AtMostOnce, AtLeastOnce or ExactlyOnce.");
            return DeliveryGuarantee.AtLeastOnce;
        }

        return guarantee;
    }

    // A client's own guarantee is checked here; the global one is checked once by the validator.
    private static DeliveryGuarantee ResolveGuarantee(DeliveryGuarantee? own, ReliableKafkaOptions root, string path, List<string> errors) =>
        own is { } chosen
            ? CheckGuarantee(chosen, $"{path}:DeliveryGuarantee", errors)
            : CheckGuarantee(root.DeliveryGuarantee, $"{RootPath}:DeliveryGuarantee", []);

    private static void AddConnection(Assembly config, ReliableKafkaOptions root, string? clusterName, List<string> errors)
    {
        var (cluster, clusterPath) = FindCluster(root, clusterName, config.Path, errors);
        config.Cluster = cluster is null ? null : clusterName;
        var (bootstrap, security, path) = cluster is null
            ? (root.BootstrapServers, root.Security, RootPath)
            : (cluster.BootstrapServers, cluster.Security, clusterPath!);
        if (!string.IsNullOrWhiteSpace(bootstrap))
        {
            config.SetOption(BootstrapServers, bootstrap, $"{path}:BootstrapServers");
        }

        var securityPath = $"{path}:Security";
        if (security.Protocol is { } protocol)
        {
            config.SetOption("security.protocol", ToKafka(protocol, securityPath, "Protocol", errors), $"{securityPath}:Protocol");
        }

        if (security.SaslMechanism is { } mechanism)
        {
            config.SetOption("sasl.mechanism", ToKafka(mechanism, securityPath, "SaslMechanism", errors), $"{securityPath}:SaslMechanism");
        }

        config.SetOption("sasl.username", security.SaslUsername, $"{securityPath}:SaslUsername");
        config.SetOption("sasl.password", security.SaslPassword, $"{securityPath}:SaslPassword");
        config.SetOption("ssl.ca.location", security.SslCaLocation, $"{securityPath}:SslCaLocation");
        config.SetOption("ssl.certificate.location", security.SslCertificateLocation, $"{securityPath}:SslCertificateLocation");
        config.SetOption("ssl.key.location", security.SslKeyLocation, $"{securityPath}:SslKeyLocation");
        config.SetOption("ssl.key.password", security.SslKeyPassword, $"{securityPath}:SslKeyPassword");

        // A named cluster takes nothing of the default cluster's: its raw settings may hold credentials for other brokers.
        if (cluster is null)
        {
            config.SetRaw(root.Config, $"{RootPath}:Config");
        }
        else
        {
            config.SetRaw(cluster.Config, $"{clusterPath}:Config");
        }
    }

    private static string? OwnerOf(string canonicalKey, ConfigScope scope, string path)
    {
        if (GlobalOwned.TryGetValue(canonicalKey, out var global))
        {
            // A named cluster has its own connection options; the client id prefix is global.
            return scope == ConfigScope.Cluster && canonicalKey != ClientId ? $"{path}:{global}" : $"{RootPath}:{global}";
        }

        var producer = scope != ConfigScope.Consumer && ProducerOwned.TryGetValue(canonicalKey, out var p) ? p : null;
        var consumer = scope != ConfigScope.Producer && ConsumerOwned.TryGetValue(canonicalKey, out var c) ? c : null;
        return (scope, producer, consumer) switch
        {
            (ConfigScope.Global or ConfigScope.Cluster, not null, _) => $"{RootPath}:Producers:<name>:{producer}",
            (ConfigScope.Global or ConfigScope.Cluster, _, not null) => $"{RootPath}:Consumers:<name>:{consumer}",
            (_, not null, _) => producer,
            (_, _, not null) => consumer,
            _ => null,
        };
    }

    private static string Milliseconds(TimeSpan value) => Invariant((long)value.TotalMilliseconds);

    private static long Ms(TimeSpan value) => (long)value.TotalMilliseconds;

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string? ToKafka<TEnum>(TEnum value, string path, string option, List<string> errors)
        where TEnum : struct, Enum
    {
        string? text = value switch
        {
            Confluent.Kafka.Acks a => a switch { Confluent.Kafka.Acks.None => "0", Confluent.Kafka.Acks.Leader => "1", Confluent.Kafka.Acks.All => "all", _ => null },
            CompressionType c => c switch
            {
                CompressionType.None => "none", CompressionType.Gzip => "gzip", CompressionType.Snappy => "snappy",
                CompressionType.Lz4 => "lz4", CompressionType.Zstd => "zstd", _ => null,
            },
            AutoOffsetReset r => r switch { AutoOffsetReset.Earliest => "earliest", AutoOffsetReset.Latest => "latest", AutoOffsetReset.Error => "error", _ => null },
            PartitionAssignmentStrategy s => s switch
            {
                PartitionAssignmentStrategy.Range => "range", PartitionAssignmentStrategy.RoundRobin => "roundrobin",
                PartitionAssignmentStrategy.CooperativeSticky => "cooperative-sticky", _ => null,
            },
            SecurityProtocol p => p switch
            {
                SecurityProtocol.Plaintext => "plaintext", SecurityProtocol.Ssl => "ssl",
                SecurityProtocol.SaslPlaintext => "sasl_plaintext", SecurityProtocol.SaslSsl => "sasl_ssl", _ => null,
            },
            SaslMechanism m => m switch
            {
                SaslMechanism.Gssapi => "GSSAPI", SaslMechanism.Plain => "PLAIN", SaslMechanism.ScramSha256 => "SCRAM-SHA-256",
                SaslMechanism.ScramSha512 => "SCRAM-SHA-512", SaslMechanism.OAuthBearer => "OAUTHBEARER", _ => null,
            },
            _ => null,
        };
        if (text is null)
        {
            errors.Add($"{path}: {option} ({value}) is not a known {typeof(TEnum).Name} value.");
        }

        return text;
    }

    /// <summary>The settings being assembled, with where each value came from (for error messages).</summary>
    private sealed class Assembly(string path)
    {
        private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _sources = new(StringComparer.Ordinal);

        public string Path { get; } = path;

        public string? Cluster { get; set; }

        public string? Get(string key) => _values.GetValueOrDefault(key);

        public void SetOption(string key, string? value, string option)
        {
            if (value is not null)
            {
                _values[key] = value;
                _sources[key] = $"option {option}";
            }
        }

        public void SetRaw(IReadOnlyDictionary<string, string> raw, string source)
        {
            foreach (var (key, value) in raw)
            {
                if (!string.IsNullOrWhiteSpace(key) && value is not null)
                {
                    var canonical = Canonicalize(key);
                    _values[canonical] = value;
                    _sources[canonical] = $"{source}['{key}']";
                }
            }
        }

        public void SetPreset(string key, string value, DeliveryGuarantee guarantee)
        {
            if (_values.TryAdd(key, value))
            {
                _sources[key] = $"{guarantee} preset";
            }
        }

        /// <summary>Renders <c>key=value (source)</c>, secrets redacted.</summary>
        public string Show(string key) =>
            _values.TryGetValue(key, out var value)
                ? $"{Describe(key, value)} ({_sources[key]})"
                : $"{key} (librdkafka default)";

        public KafkaClientConfig ToClientConfig(string name, DeliveryGuarantee guarantee, List<string> errors) => new()
        {
            Path = Path,
            Name = name,
            Cluster = Cluster,
            Guarantee = guarantee,
            Values = new Dictionary<string, string>(_values, StringComparer.Ordinal),
            Errors = errors,
        };
    }
}
