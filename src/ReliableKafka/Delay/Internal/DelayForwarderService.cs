using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Diagnostics.Internal;
using ReliableKafka.Failures.Internal;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Delay.Internal;

/// <summary>
/// The forwarder: one consumer of every delay tier topic, run by the consumer engine with <see cref="DelayGate"/> as its
/// admission rule (a partition waits, paused, until its head record is due) and <see cref="DelayForwarder"/> as its
/// handler. Commits, rebalances, backpressure, retries and the dead-letter topic work as for any consumer; the health
/// check reports it like one.
/// </summary>
internal sealed class DelayForwarderService(
    IOptions<ReliableKafkaOptions> options,
    IServiceProvider services,
    ILoggerFactory loggerFactory,
    TimeProvider time) : BackgroundService, IReliableConsumerService
{
    private ConsumerEngine? _engine;
    private DelayCancellations? _cancellations;

    public string Name => DelayRuntime.ForwarderName;

    public ConsumerEngine? Engine => _engine;

    /// <summary>Gets the cancellation reader's failure once it lasted <see cref="ProblemAfter"/> (a failed round retried at once is none).</summary>
    public string? Problem => _cancellations?.FailingSince is { } since && time.GetUtcNow() - since >= ProblemAfter
        ? FormattableString.Invariant($"the cancellation topic cannot be read since {since:O} (event 2048): messages due meanwhile wait, undelivered")
        : null;

    private static TimeSpan ProblemAfter => TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        DelayCancellations? cancellations = null;
        try
        {
            var root = options.Value;
            var forwarder = root.Consumers[Name];
            var config = KafkaClientConfigBuilder.BuildConsumer(root, Name, forwarder).ThrowIfInvalid();
            var clients = services.GetRequiredService<KafkaClientFactory>();
            var runtime = services.GetRequiredService<DelayRuntime>();
            var logger = loggerFactory.CreateLogger(Log.ConsumerCategory);
            // Every cancellation is read, whatever the forwarder's own settings: from the start, transactions or not.
            var readerSettings = ReaderSettings.From(config, "delay-cancellations", "reliablekafka-delay-cancellations", partitionEof: true, readEverything: true);
            var cancellationTopic = root.DelayedDelivery.CancellationTopic;
            cancellations = new DelayCancellations(
                readerSettings,
                cancellationTopic,
                Name,
                config.Cluster,
                root.DelayedDelivery.CancellationRetention,
                time,
                clients,
                logger,
                expired => runtime.WriteTombstones(expired, logger));
            var deadLetters = new DeadLetterWriter(
                DeadLetterWriter.BuildConfig(root, Name, forwarder).ThrowIfInvalid(), config, forwarder.DeadLetter, forwarder.GroupId!, time, clients);
            _engine = new ConsumerEngine(
                config,
                forwarder,
                new DelayForwarder(runtime, cancellations),
                loggerFactory,
                time,
                consumerBuilder: settings => clients.CreateConsumerBuilder(settings, KafkaClientRole.Consumer, Name, config.Cluster),
                offsetStore: services.GetService<IGroupOffsetStore>(),
                deadLetters: deadLetters,
                gate: new DelayGate(root.DelayedDelivery.EffectiveTiers.ToDictionary(root.DelayedDelivery.TierTopic, t => t, StringComparer.Ordinal)),
                metrics: services.GetService<ReliableKafkaMetrics>());
            _cancellations = cancellations;
            cancellations.Start();
        }
        catch (Exception e)
        {
            cancellations?.Dispose();
            Log.ConsumerFailed(loggerFactory.CreateLogger(Log.ConsumerCategory), Name, e);
            throw;
        }

        var engine = _engine;
        using var waiting = services.GetRequiredService<DelayRuntime>().Metrics.TrackWaiting(engine.BacklogByTopic);
        try
        {
            await engine.RunAsync(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            cancellations.Dispose();
        }
    }
}
