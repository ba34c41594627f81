using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Delay.Internal;

/// <summary>
/// Makes sure the delay topics exist when the host starts: creates the missing ones when
/// <see cref="DelayedDeliveryOptions.CreateTopics"/> is set, else fails the start naming them.
/// </summary>
internal sealed class DelayTopicsService(IOptions<ReliableKafkaOptions> options, KafkaClientFactory clients, ILoggerFactory loggerFactory) : IHostedService
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly ILogger _logger = loggerFactory.CreateLogger(Log.ProducerCategory);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var root = options.Value;
        var delay = root.DelayedDelivery;
        var config = KafkaClientConfigBuilder.BuildProducer(root, DelayRuntime.ProducerName, root.Producers[DelayRuntime.ProducerName]).ThrowIfInvalid();
        using var producer = clients.CreateProducer(config, KafkaClientRole.Producer, DelayRuntime.ProducerName);
        using var admin = new DependentAdminClientBuilder(producer.Handle).Build();
        var missing = Missing(admin, delay.RequiredTopics());
        if (missing.Count == 0)
        {
            return;
        }

        var names = string.Join(", ", missing);
        if (!delay.CreateTopics)
        {
            Log.DelayTopicsMissing(_logger, names);
            throw new InvalidOperationException(
                $"ReliableKafka:DelayedDelivery: the topics {names} do not exist. Create them (DelayedDeliveryOptions.RequiredTopics() lists them; " +
                $"the cancellation topic {delay.CancellationTopic} should be compacted), or set CreateTopics to create them at startup.");
        }

        var longestTier = delay.EffectiveTiers[^1];
        var specifications = missing.Select(topic => new TopicSpecification
        {
            Name = topic,
            NumPartitions = delay.Partitions,
            ReplicationFactor = (short)delay.ReplicationFactor,
            Configs = topic == delay.CancellationTopic
                ? new Dictionary<string, string>
                {
                    ["cleanup.policy"] = "compact,delete",
                    ["retention.ms"] = ((long)(delay.CancellationRetention + longestTier).TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
                }
                : null,
        }).ToList();
        try
        {
            await admin.CreateTopicsAsync(specifications, new CreateTopicsOptions { RequestTimeout = Timeout }).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (CreateTopicsException e) when (e.Results.All(r => !r.Error.IsError || r.Error.Code == ErrorCode.TopicAlreadyExists))
        {
            // Created by another member meanwhile.
        }

        Log.DelayTopicsCreated(_logger, names);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static List<string> Missing(IAdminClient admin, IReadOnlyList<string> required)
    {
        // All topics: a metadata request for named topics could create them on a broker that auto-creates topics.
        var existing = admin.GetMetadata(Timeout).Topics.Where(t => !t.Error.IsError).Select(t => t.Topic).ToHashSet(StringComparer.Ordinal);
        return [.. required.Where(t => !existing.Contains(t))];
    }
}
