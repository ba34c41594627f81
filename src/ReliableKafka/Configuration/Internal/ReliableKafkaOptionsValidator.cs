using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using ReliableKafka.DependencyInjection.Internal;
using static ReliableKafka.Configuration.Internal.KafkaClientConfigBuilder;

namespace ReliableKafka.Configuration.Internal;

/// <summary>
/// Validates <see cref="ReliableKafkaOptions"/> at startup: the DataAnnotations on each options object, then
/// the cross-field and preset rules of every registered producer and consumer. Each message starts with the
/// options path, e.g. <c>ReliableKafka:Consumers:orders: ...</c>.
/// </summary>
internal sealed class ReliableKafkaOptionsValidator(ReliableKafkaRegistry registry) : IValidateOptions<ReliableKafkaOptions>
{
    public ValidateOptionsResult Validate(string? name, ReliableKafkaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();

        var usesDefaultCluster = UsesDefaultCluster(options);
        if (string.IsNullOrWhiteSpace(options.BootstrapServers) && usesDefaultCluster)
        {
            errors.Add($"{RootPath}: BootstrapServers must be set (comma-separated host:port, e.g. localhost:9092).");
        }

        if (!usesDefaultCluster && options.Config.Count > 0)
        {
            errors.Add($"{RootPath}:Config is set, but every producer and consumer uses a named cluster, and named clusters do not take it: move its settings to {RootPath}:Clusters:<name>:Config.");
        }

        if (Native.Internal.ClientHandle.Unsupported is { } unsupported)
        {
            errors.Add($"{RootPath}: {unsupported}");
        }

        CheckGuarantee(options.DeliveryGuarantee, $"{RootPath}:DeliveryGuarantee", errors);
        ValidateAnnotations(options.Security, $"{RootPath}:Security", errors);
        ValidateAnnotations(options.Health, $"{RootPath}:Health", errors);
        if (options.Health.BrokersUnreachableAfter < 2 * options.Health.BrokerProbeInterval)
        {
            // Answers can come up to two intervals apart (a probe waits up to an interval): a shorter threshold flickers.
            errors.Add(FormattableString.Invariant(
                $"{RootPath}:Health: BrokersUnreachableAfter ({options.Health.BrokersUnreachableAfter.TotalMilliseconds} ms) must be at least twice BrokerProbeInterval ({options.Health.BrokerProbeInterval.TotalMilliseconds} ms)."));
        }
        CheckRawConfig(options.Config, RootPath, ConfigScope.Global, errors);
        ValidateClusters(options, errors);

        ValidateClients(options.Producers, "producer", "AddProducer", registry.IsProducer, ProducerPath, ConfigScope.Producer, p => p.Config, BuildProducer, options, errors);
        ValidateClients(options.Consumers, "consumer", "AddConsumer", registry.IsConsumer, ConsumerPath, ConfigScope.Consumer, c => c.Config, BuildConsumer, options, errors);
        foreach (var (consumerName, consumer) in options.Consumers)
        {
            if (registry.IsConsumer(consumerName))
            {
                ValidateFailureHandling(options, consumerName, consumer, errors);
                ValidateDeduplication(options, consumerName, consumer, errors);
            }
        }

        foreach (var (consumerName, _, _) in registry.MessageIdSelectors)
        {
            if (!registry.IsConsumer(consumerName))
            {
                errors.Add($"{ConsumerPath(consumerName)}: UseMessageIdSelector names a consumer that was not added with AddConsumer.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors.Distinct(StringComparer.Ordinal));
    }

    /// <summary>
    /// Whether the default cluster is needed: when a registered client does not name a cluster, or when nothing is
    /// registered yet (an application that only redrives, or adds clients later).
    /// </summary>
    private bool UsesDefaultCluster(ReliableKafkaOptions options)
    {
        var producers = options.Producers.Where(p => registry.IsProducer(p.Key)).Select(p => p.Value.Cluster);
        var consumers = options.Consumers.Where(c => registry.IsConsumer(c.Key)).Select(c => c.Value.Cluster);
        var clusters = producers.Concat(consumers).ToList();
        return clusters.Count == 0 || clusters.Any(c => c is null);
    }

    private static void ValidateClusters(ReliableKafkaOptions options, List<string> errors)
    {
        foreach (var (name, cluster) in options.Clusters)
        {
            var path = ClusterPath(name);
            if (string.IsNullOrWhiteSpace(name))
            {
                errors.Add($"{RootPath}:Clusters has an entry with an empty name.");
                continue;
            }

            if (cluster is null)
            {
                errors.Add($"{path} is empty; set its BootstrapServers.");
                continue;
            }

            if (string.IsNullOrWhiteSpace(cluster.BootstrapServers))
            {
                errors.Add($"{path}: BootstrapServers must be set (comma-separated host:port).");
            }

            ValidateAnnotations(cluster.Security, $"{path}:Security", errors);
            CheckRawConfig(cluster.Config, path, ConfigScope.Cluster, errors);
        }
    }

    private static void ValidateClients<TOptions>(
        Dictionary<string, TOptions> clients,
        string kind,
        string addMethod,
        Func<string, bool> isRegistered,
        Func<string, string> pathOf,
        ConfigScope scope,
        Func<TOptions, Dictionary<string, string>> rawConfigOf,
        Func<ReliableKafkaOptions, string, TOptions, KafkaClientConfig> build,
        ReliableKafkaOptions options,
        List<string> errors)
        where TOptions : class
    {
        foreach (var (name, client) in clients)
        {
            var path = pathOf(name);
            if (!isRegistered(name))
            {
                errors.Add($"{path} is configured, but no {kind} of that name was added with {addMethod}.");
                continue;
            }

            ValidateAnnotations(client, path, errors);
            CheckRawConfig(rawConfigOf(client), path, scope, errors);
            errors.AddRange(build(options, name, client).Errors);
        }
    }

    /// <summary>Retries, the failure policy and the dead-letter topic of one consumer.</summary>
    private static void ValidateFailureHandling(ReliableKafkaOptions root, string name, ConsumerOptions consumer, List<string> errors)
    {
        var path = ConsumerPath(name);
        ValidateAnnotations(consumer.Retry, $"{path}:Retry", errors);
        ValidateAnnotations(consumer.DeadLetter, $"{path}:DeadLetter", errors);
        if (consumer.Retry.MaxDelay < consumer.Retry.InitialDelay)
        {
            errors.Add(FormattableString.Invariant(
                $"{path}:Retry: MaxDelay ({consumer.Retry.MaxDelay.TotalMilliseconds} ms) must be at least InitialDelay ({consumer.Retry.InitialDelay.TotalMilliseconds} ms)."));
        }

        if (!Enum.IsDefined(consumer.TraceContext))
        {
            errors.Add($"{path}: TraceContext ({(int)consumer.TraceContext}) is not one of {string.Join(", ", Enum.GetNames<TraceContextUse>())}.");
        }

        if (!Enum.IsDefined(consumer.FailurePolicy))
        {
            errors.Add($"{path}: FailurePolicy {consumer.FailurePolicy} is not one of {string.Join(", ", Enum.GetNames<FailurePolicy>())}.");
            return;
        }

        if (consumer.FailurePolicy == FailurePolicy.RetryTopic)
        {
            ValidateRetryTopics(root, path, consumer, errors);
        }
        else if (consumer.FailurePolicy != FailurePolicy.DeadLetter)
        {
            return;
        }

        var deadLetterTopic = consumer.DeadLetter.Topic;
        var patterns = consumer.Topics.Where(t => t.StartsWith('^')).ToList();
        if (deadLetterTopic is null)
        {
            if (patterns.Count > 0)
            {
                errors.Add($"{path}:DeadLetter: Topic must be set when topics are subscribed by regular expression ({string.Join(", ", patterns)}): the default dead-letter topics (<topic>{DeadLetterOptions.DefaultTopicSuffix}) could match it, and dead-lettered records would be consumed again.");
            }
        }
        else if (string.IsNullOrWhiteSpace(deadLetterTopic))
        {
            errors.Add($"{path}:DeadLetter: Topic must not be empty (leave it unset for <topic>{DeadLetterOptions.DefaultTopicSuffix}).");
        }
        else if (consumer.Topics.Contains(deadLetterTopic, StringComparer.Ordinal)
            || patterns.Any(p => System.Text.RegularExpressions.Regex.IsMatch(deadLetterTopic, p, System.Text.RegularExpressions.RegexOptions.None, TimeSpan.FromSeconds(1))))
        {
            errors.Add($"{path}:DeadLetter: Topic {deadLetterTopic} is one of the consumer's own topics; dead-lettered records would be consumed again.");
        }

        // The dead-letter producer takes the global settings; name it after the consumer, not a producer nobody added.
        var producer = Failures.Internal.DeadLetterWriter.BuildConfig(root, name, consumer);
        errors.AddRange(producer.Errors.Select(e => e.Replace(producer.Path, $"{path}:DeadLetter (its producer)", StringComparison.Ordinal)));
    }

    /// <summary>The retry topics of <see cref="FailurePolicy.RetryTopic"/>: backoffs, names, and what the policy needs.</summary>
    private static void ValidateRetryTopics(ReliableKafkaOptions root, string path, ConsumerOptions consumer, List<string> errors)
    {
        var retryPath = $"{path}:RetryTopic";
        var options = consumer.RetryTopic;
        ValidateAnnotations(options, retryPath, errors);
        if ((consumer.DeliveryGuarantee ?? root.DeliveryGuarantee) == DeliveryGuarantee.AtMostOnce)
        {
            errors.Add($"{path}: FailurePolicy RetryTopic needs AtLeastOnce or ExactlyOnce; AtMostOnce commits records before handling them and does not retry.");
        }

        if (consumer.AutoOffsetReset != Confluent.Kafka.AutoOffsetReset.Earliest)
        {
            errors.Add($"{path}: FailurePolicy RetryTopic needs AutoOffsetReset Earliest (it is {consumer.AutoOffsetReset}): a retry topic's partition without a committed offset yet must be read from its start, or the records waiting in it would be skipped.");
        }

        if (!Enum.IsDefined(options.KeyOrder))
        {
            errors.Add($"{retryPath}: KeyOrder {options.KeyOrder} is not one of {string.Join(", ", Enum.GetNames<KeyOrderOnFailure>())}.");
        }

        var backoffs = options.EffectiveBackoffs;
        if (backoffs.Count > 20)
        {
            errors.Add($"{retryPath}: at most 20 Backoffs (there are {backoffs.Count}).");
        }

        errors.AddRange(Delay.Internal.DelayTiers.Problems(backoffs).Select(p => $"{retryPath}: {p.Replace("Tiers", "Backoffs", StringComparison.Ordinal).Replace("tiers", "backoffs", StringComparison.Ordinal)}"));
        var patterns = consumer.Topics.Where(t => t.StartsWith('^')).ToList();
        if (patterns.Count > 0)
        {
            errors.Add($"{path}: FailurePolicy RetryTopic needs its topics by name, not by regular expression ({string.Join(", ", patterns)}): each topic has retry topics of its own.");
            return;
        }

        // The group is part of the retry topics' names (and of the default parking topic's).
        if (consumer.GroupId is { Length: > 0 } group && !group.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
        {
            errors.Add($"{path}: GroupId '{group}' is part of the retry topics' names (<topic>{RetryTopicOptions.TopicInfix}<group>.<backoff>), so FailurePolicy RetryTopic needs it made of a-z, A-Z, 0-9, '.', '_' and '-'.");
            return;
        }

        var retryTopics = consumer.Topics.SelectMany(t => backoffs.Select(b => RetryTopicOptions.TopicFor(consumer.GroupId ?? string.Empty, t, b))).ToList();
        foreach (var topic in retryTopics.Where(t => t.Length > 249))
        {
            errors.Add($"{retryPath}: the retry topic {topic} is longer than Kafka's 249 characters; use a shorter topic name.");
        }

        foreach (var topic in retryTopics.Intersect(consumer.Topics, StringComparer.Ordinal))
        {
            errors.Add($"{path}: Topics has {topic}, which is a retry topic of another of its topics; list source topics only (their retry topics are read too).");
        }

        if (options.ParkingTopic is { } parking && (string.IsNullOrWhiteSpace(parking) || consumer.Topics.Contains(parking, StringComparer.Ordinal) || retryTopics.Contains(parking, StringComparer.Ordinal)))
        {
            errors.Add($"{retryPath}: ParkingTopic must be a topic of its own: not empty, not one of the consumer's topics or retry topics (leave it unset for <group>{RetryTopicOptions.DefaultParkingTopicSuffix}).");
        }
    }

    /// <summary>Whether a consumer deduplicates, and whether it can: a store must be added, and AtMostOnce never deduplicates.</summary>
    private void ValidateDeduplication(ReliableKafkaOptions root, string name, ConsumerOptions consumer, List<string> errors)
    {
        var path = $"{ConsumerPath(name)}:Deduplication";
        ValidateAnnotations(consumer.Deduplication, path, errors);
        var guarantee = consumer.DeliveryGuarantee ?? root.DeliveryGuarantee;
        var store = registry.DeduplicationStore;
        const string HowToAdd = "add one with .UseInMemoryDeduplication(), .UseSqliteDeduplication(...) or .UsePostgreSqlDeduplication(...) on AddReliableKafka's builder";
        if (guarantee == DeliveryGuarantee.AtMostOnce && consumer.Deduplication.Enabled == true)
        {
            errors.Add($"{path}: Enabled is true, but the consumer's DeliveryGuarantee is AtMostOnce, which commits records before handling them and never handles one twice; deduplication needs AtLeastOnce or ExactlyOnce.");
        }
        else if (guarantee == DeliveryGuarantee.ExactlyOnce && consumer.Deduplication.Enabled == false)
        {
            errors.Add($"{path}: Enabled is false, but DeliveryGuarantee ExactlyOnce needs deduplication (it is what keeps side effects from happening twice); choose AtLeastOnce or turn deduplication on.");
        }
        else if (store is null && (consumer.Deduplication.Enabled == true || guarantee == DeliveryGuarantee.ExactlyOnce))
        {
            var why = consumer.Deduplication.Enabled == true ? "Enabled is true" : "DeliveryGuarantee ExactlyOnce needs it";
            errors.Add($"{path}: {why}, but no deduplication store was added: {HowToAdd}.");
        }

        if (consumer.Deduplication.ClaimWaitTimeout is { } wait && wait < TimeSpan.Zero)
        {
            errors.Add($"{path}: ClaimWaitTimeout must not be negative.");
        }
    }

    internal static void ValidateAnnotations(object options, string path, List<string> errors)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
        {
            errors.AddRange(results.Select(r => $"{path}: {r.ErrorMessage}"));
        }
    }
}
