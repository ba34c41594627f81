using System.Globalization;
using System.Runtime.InteropServices;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.DependencyInjection.Internal;
using ReliableKafka.Native.Internal;

namespace ReliableKafka.Diagnostics.Internal;

/// <summary>
/// Watches whether each cluster the application uses can be reached, for the health check: every
/// <see cref="HealthOptions.BrokerProbeInterval"/> a client of its own (a producer that sends nothing, not idempotent, so
/// it needs no write rights) asks the cluster for its brokers (a metadata request for no topic), which takes a broker that
/// answers. Idle clients give no such sign (librdkafka reports only that all brokers went down, never that one came
/// back), so the probe is what notices both. Runs while the host runs, only when the health check was added.
/// </summary>
internal sealed partial class BrokerReachability(IServiceProvider services) : BackgroundService
{
    /// <summary>The name under which the default cluster (<see cref="ReliableKafkaOptions.BootstrapServers"/>) is reported.</summary>
    public const string DefaultCluster = "(default)";

    // One probe waits this long at most, whatever the interval (a stopping host waits for it).
    private static readonly TimeSpan MaxProbeTimeout = TimeSpan.FromSeconds(10);

    private readonly Dictionary<string, Probe> _probes = new(StringComparer.Ordinal);
    private DateTimeOffset _started;
    private TimeSpan _unreachableAfter;
    private TimeProvider _time = TimeProvider.System;

    static BrokerReachability() => LibrdkafkaLibrary.EnsureResolver();

    /// <summary>Gets why the probe stopped (it could not create its client, say), or null while it runs.</summary>
    public string? Failure { get; private set; }

    /// <summary>Gets each watched cluster that has not answered for the configured time, with since when and the last error.</summary>
    public IReadOnlyList<(string Cluster, DateTimeOffset Since, string? Error)> Unreachable()
    {
        var now = _time.GetUtcNow();
        lock (_probes)
        {
            return [.. _probes.Where(p => p.Value.Asked && now - (p.Value.LastAnswer ?? _started) >= _unreachableAfter)
                .Select(p => (p.Key, p.Value.LastAnswer ?? _started, p.Value.LastError))];
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var registry = services.GetService<ReliableKafkaRegistry>();
        if (registry is null)
        {
            return; // AddReliableKafka was not called: nothing to watch.
        }

        var root = services.GetRequiredService<IOptions<ReliableKafkaOptions>>().Value;
        var clients = services.GetRequiredService<KafkaClientFactory>();
        var logger = (services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger(Log.HealthCategory);
        _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _started = _time.GetUtcNow();
        _unreachableAfter = root.Health.BrokersUnreachableAfter;
        var interval = root.Health.BrokerProbeInterval;
        var timeout = interval < MaxProbeTimeout ? interval : MaxProbeTimeout;
        var handles = new List<(string Name, IProducer<byte[]?, byte[]?> Producer)>();
        try
        {
            foreach (var cluster in ClustersInUse(root, registry))
            {
                handles.Add((cluster ?? DefaultCluster, CreateProducer(root, cluster, timeout, clients)));
            }

            lock (_probes)
            {
                handles.ForEach(h => _probes[h.Name] = new Probe());
            }

            while (!stoppingToken.IsCancellationRequested)
            {
                var round = _time.GetTimestamp();
                await Task.WhenAll(handles.Select(h => Task.Run(() => Ask(h.Name, h.Producer, timeout, logger), CancellationToken.None))).ConfigureAwait(false);
                var wait = interval - _time.GetElapsedTime(round);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _time, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // The probe must never stop the host; the check reports that it cannot tell.
            Log.BrokerProbeFailed(logger, e);
            Failure = $"{e.GetType().Name}: {e.Message}";
        }
        finally
        {
            lock (_probes)
            {
                _probes.Clear(); // stopped: no verdict on old answers
            }

            handles.ForEach(h => h.Producer.Dispose());
        }
    }

    /// <summary>The clusters of the registered producers and consumers (null: the default one); the default one alone when none is registered but it is configured.</summary>
    private static List<string?> ClustersInUse(ReliableKafkaOptions root, ReliableKafkaRegistry registry)
    {
        var clusters = root.Producers.Where(p => registry.IsProducer(p.Key)).Select(p => p.Value.Cluster)
            .Concat(root.Consumers.Where(c => registry.IsConsumer(c.Key)).Select(c => c.Value.Cluster))
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToList();
        if (clusters.Count == 0 && !string.IsNullOrWhiteSpace(root.BootstrapServers))
        {
            clusters.Add(null);
        }

        return clusters;
    }

    private static IProducer<byte[]?, byte[]?> CreateProducer(ReliableKafkaOptions root, string? cluster, TimeSpan timeout, KafkaClientFactory clients)
    {
        var config = KafkaClientConfigBuilder.BuildProducer(root, "health", new ProducerOptions { Cluster = cluster, MessageIdHeader = false }).ThrowIfInvalid();
        var values = new Dictionary<string, string>(config.Values, StringComparer.Ordinal)
        {
            // It sends nothing: no idempotent producer id (which would need write rights on the cluster).
            ["enable.idempotence"] = "false",

            // A connection attempt to a broker that accepts nothing must end within a probe (librdkafka's least is a
            // second), so that a broker that comes back is noticed soon (librdkafka waits 30 s by default).
            ["socket.connection.setup.timeout.ms"] = Milliseconds(timeout < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : timeout),
        };

        // Reconnects at least every second, unless the application's own backoff is longer (librdkafka refuses a maximum below it).
        var backoff = values.TryGetValue("reconnect.backoff.ms", out var text) && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) ? ms : 100;
        values["reconnect.backoff.max.ms"] = Math.Max(1000, backoff).ToString(CultureInfo.InvariantCulture);
        var probeConfig = new KafkaClientConfig
        {
            Path = config.Path,
            Name = config.Name,
            Cluster = config.Cluster,
            Guarantee = config.Guarantee,
            Values = values,
            Errors = config.Errors,
        };
        return clients.CreateProducer(probeConfig, KafkaClientRole.HealthProbe, "health");
    }

    private static string Milliseconds(TimeSpan time) => ((long)time.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);

    private void Ask(string cluster, IProducer<byte[]?, byte[]?> producer, TimeSpan timeout, ILogger logger)
    {
        var error = AskForBrokers(producer, timeout);
        bool changed;
        lock (_probes)
        {
            if (!_probes.TryGetValue(cluster, out var probe))
            {
                return;
            }

            changed = probe.Asked && (error is null) != (probe.LastError is null);
            probe.Asked = true;
            probe.LastError = error;
            if (error is null)
            {
                probe.LastAnswer = _time.GetUtcNow();
            }
        }

        if (changed && error is not null)
        {
            Log.ClusterUnreachable(logger, cluster, error);
        }
        else if (changed)
        {
            Log.ClusterReachable(logger, cluster);
        }
    }

    /// <summary>
    /// A metadata request for no topic (<c>rd_kafka_metadata</c> with all_topics=0 and no topic: librdkafka asks for the
    /// topics it knows, and this client knows none), answered with the brokers only; Confluent.Kafka's GetMetadata asks
    /// for every topic. Returns null when a broker answered, else the error.
    /// </summary>
    private static string? AskForBrokers(IProducer<byte[]?, byte[]?> producer, TimeSpan timeout)
    {
        string? error = null;
        ClientHandle.Use(producer, rk =>
        {
            var code = (ErrorCode)RdKafkaMetadata(rk, 0, IntPtr.Zero, out var metadata, (int)timeout.TotalMilliseconds);
            if (code == ErrorCode.NoError && metadata != IntPtr.Zero)
            {
                RdKafkaMetadataDestroy(metadata); // librdkafka sets it only on success
            }

            error = code == ErrorCode.NoError ? null : $"{code}: {new Error(code).Reason}";
        });
        return error;
    }

    [LibraryImport(LibrdkafkaLibrary.Name, EntryPoint = "rd_kafka_metadata")]
    private static partial int RdKafkaMetadata(IntPtr rk, int allTopics, IntPtr onlyTopic, out IntPtr metadata, int timeoutMs);

    [LibraryImport(LibrdkafkaLibrary.Name, EntryPoint = "rd_kafka_metadata_destroy")]
    private static partial void RdKafkaMetadataDestroy(IntPtr metadata);

    private sealed class Probe
    {
        public bool Asked { get; set; }

        public DateTimeOffset? LastAnswer { get; set; }

        public string? LastError { get; set; }
    }
}
