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
/// <see cref="DelayedDeliveryOptions.CreateTopics"/> is set, else fails the start naming them. A cluster that cannot be
/// reached does not stop the start: the check (and creation) is tried again in the background until it answers.
/// </summary>
internal sealed class DelayTopicsService(IOptions<ReliableKafkaOptions> options, KafkaClientFactory clients, ILoggerFactory loggerFactory, TimeProvider time) : IHostedService, IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan CreateTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(5);
    private readonly ILogger _logger = loggerFactory.CreateLogger(Log.ProducerCategory);
    private readonly CancellationTokenSource _stopping = new();
    private Task? _retrying;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await EnsureAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException e) when (Unreachable(e))
        {
            // The cluster cannot be reached now (timed out, refused): like every client, the scheduler and the forwarder
            // start anyway and wait for it. Topics to be created are created once it can be reached.
            Log.DelayTopicsUnchecked(_logger, e.Error.Reason);
            if (options.Value.DelayedDelivery.CreateTopics)
            {
                _retrying = Task.Run(() => RetryAsync(_stopping.Token), CancellationToken.None);
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_retrying is { } retrying)
        {
            await retrying.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose() => _stopping.Dispose();

    private static bool Unreachable(KafkaException e) => e.Error.Code is ErrorCode.Local_TimedOut or ErrorCode.Local_Transport or ErrorCode.Local_AllBrokersDown;

    /// <summary>Checks (and creates) the topics again every few seconds until the cluster answers, or the host stops.</summary>
    private async Task RetryAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(RetryInterval, time, stopping).ConfigureAwait(false);
                await EnsureAsync(stopping).ConfigureAwait(false);
                return;
            }
            catch (KafkaException e) when (Unreachable(e))
            {
                // Still unreachable: tried again.
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The cluster answered, but the topics could not be created: the forwarder and the scheduler report it.
                Log.DelayTopicsUnchecked(_logger, e.Message);
                return;
            }
        }
    }

    private async Task EnsureAsync(CancellationToken cancellationToken)
    {
        var root = options.Value;
        var delay = root.DelayedDelivery;
        var config = KafkaClientConfigBuilder.BuildProducer(root, DelayRuntime.ProducerName, root.Producers[DelayRuntime.ProducerName]).ThrowIfInvalid();
        using var producer = clients.CreateProducer(config, KafkaClientRole.Producer, DelayRuntime.ProducerName);
        using var admin = new DependentAdminClientBuilder(producer.Handle).Build();
        var existing = await Task.Run(() => ExistingTopics(admin), cancellationToken).ConfigureAwait(false);
        WarnOfUnreadTiers(delay, existing);
        var missing = delay.RequiredTopics().Where(t => !existing.Contains(t)).ToList();
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

        var tierTopics = delay.EffectiveTiers.ToDictionary(delay.TierTopic, t => t, StringComparer.Ordinal);
        var specifications = missing.Select(topic => new TopicSpecification
        {
            Name = topic,
            NumPartitions = delay.Partitions,
            ReplicationFactor = (short)delay.ReplicationFactor,
            Configs = topic == delay.CancellationTopic
                // Compacted only: a cancellation of a message due months ahead must outlive any age-based retention. The
                // forwarders write tombstones once CancellationRetention has passed after the due time.
                ? new Dictionary<string, string> { ["cleanup.policy"] = "compact" }
                : tierTopics.TryGetValue(topic, out var tier)
                    // A record waits up to its tier in its topic; retention much longer than that (a forwarder outage).
                    ? new Dictionary<string, string> { ["retention.ms"] = Milliseconds(tier + DelayTiers.RetentionMargin) }
                    : null,
        }).ToList();
        try
        {
            await admin.CreateTopicsAsync(specifications, new CreateTopicsOptions { RequestTimeout = CreateTimeout }).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (CreateTopicsException e) when (e.Results.All(r => !r.Error.IsError || r.Error.Code == ErrorCode.TopicAlreadyExists))
        {
            // Created by another member meanwhile.
        }
        catch (KafkaException e)
        {
            // E.g. a cluster without a controller, such as librdkafka's mock cluster (EmbeddedKafkaCluster): create them there
            // with EmbeddedKafkaCluster.CreateTopic.
            var failures = e is CreateTopicsException created
                ? string.Join("; ", created.Results.Where(r => r.Error.IsError && r.Error.Code != ErrorCode.TopicAlreadyExists).Select(r => $"{r.Topic}: {r.Error.Reason}"))
                : e.Error.Reason;
            throw new InvalidOperationException(
                $"ReliableKafka:DelayedDelivery: the topics {names} do not exist and could not be created ({failures}). Create them beforehand " +
                "(DelayedDeliveryOptions.RequiredTopics() lists them; on an EmbeddedKafkaCluster, with CreateTopic).",
                e);
        }

        Log.DelayTopicsCreated(_logger, names);
    }

    // All topics: a metadata request for named topics could create them on a broker that auto-creates topics.
    private static HashSet<string> ExistingTopics(IAdminClient admin) =>
        admin.GetMetadata(Timeout).Topics.Where(t => !t.Error.IsError).Select(t => t.Topic).ToHashSet(StringComparer.Ordinal);

    private static string Milliseconds(TimeSpan value) => ((long)value.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Warns of tier topics of this prefix that no forwarder reads (a tier taken out of the configuration while records waited in it).</summary>
    private void WarnOfUnreadTiers(DelayedDeliveryOptions delay, HashSet<string> existing)
    {
        var prefix = $"{delay.TopicPrefix}.delay.";
        var configured = delay.EffectiveTiers.Select(delay.TierTopic).ToHashSet(StringComparer.Ordinal);
        var unread = existing.Where(t => t.StartsWith(prefix, StringComparison.Ordinal) && DelayTiers.FromTopic(t) is not null && !configured.Contains(t))
            .Order(StringComparer.Ordinal).ToList();
        if (unread.Count > 0)
        {
            Log.DelayTopicsUnread(_logger, string.Join(", ", unread));
        }
    }
}
