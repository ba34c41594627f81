using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Deduplication;
using ReliableKafka.Deduplication.Internal;
using ReliableKafka.DependencyInjection.Internal;
using ReliableKafka.Diagnostics.Internal;
using ReliableKafka.Failures.Internal;
using ReliableKafka.Failures.Internal.Retry;
using ReliableKafka.Offsets.Internal;
using ReliableKafka.Serialization.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>The hosted service of one registered consumer: builds its engine on start and stops it gracefully with the host.</summary>
internal sealed class ReliableConsumerService<TKey, TValue, THandler>(
    string name,
    IOptions<ReliableKafkaOptions> options,
    IServiceProvider services,
    ILoggerFactory loggerFactory,
    TimeProvider time) : BackgroundService, IReliableConsumerService
    where THandler : class, IMessageHandler<TKey, TValue>
{
    private ConsumerEngine? _engine;

    public string Name { get; } = name;

    public ConsumerEngine? Engine => _engine;

    /// <summary>
    /// Gets what keeps parked keys from working once it lasted 10 seconds: the parking topic cannot be read (keys are not
    /// released), or partitions wait for their committed metadata (they take no records); null when neither.
    /// </summary>
    public string? Problem
    {
        get
        {
            var now = time.GetUtcNow();
            var problems = new List<string>(2);
            if (_engine?.ParkingFailingSince is { } since && now - since >= ProblemAfter)
            {
                problems.Add(FormattableString.Invariant($"the parking topic cannot be read since {since:O} (event 2056): parked keys are not released, so their records keep going through the retry topics"));
            }

            if (_engine?.CommittedUnreadSince is { } unread && now - unread >= ProblemAfter)
            {
                problems.Add(FormattableString.Invariant($"assigned partitions take no records since {unread:O}: their committed metadata (parked keys) cannot be read (event 2062)"));
            }

            return problems.Count == 0 ? null : string.Join("; ", problems);
        }
    }

    private static TimeSpan ProblemAfter => TimeSpan.FromSeconds(10);

    private static TimeSpan TopicsCheckWait => TimeSpan.FromSeconds(15);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            _engine = CreateEngine();
        }
        catch (Exception e)
        {
            // The engine logs its own failures; one before it exists is logged here, as loudly.
            Log.ConsumerFailed(loggerFactory.CreateLogger(Log.ConsumerCategory), Name, e);
            throw;
        }

        var root = options.Value;
        var consumerOptions = root.Consumers[Name];
        if (_engine.RetryLevels is { } levels)
        {
            var config = Failures.Internal.DeadLetterWriter.BuildConfig(root, Name, consumerOptions).ThrowIfInvalid();
            var clients = services.GetRequiredService<KafkaClientFactory>();
            var check = RetryTopicsCheck.RunAsync(
                () => clients.CreateProducer(config, KafkaClientRole.DeadLetterProducer, Name),
                Name,
                consumerOptions,
                levels,
                _engine.Parks,
                loggerFactory.CreateLogger(Log.ConsumerCategory),
                time,
                stoppingToken);

            // Topics created now exist when the consumer subscribes (librdkafka would learn of them only at a later metadata
            // refresh); a cluster that cannot be reached does not hold the start: the check goes on in the background.
            await Task.WhenAny(check, Task.Delay(TopicsCheckWait, time, stoppingToken)).ConfigureAwait(false);
        }

        await _engine.RunAsync(stoppingToken).ConfigureAwait(false);
    }

    private ConsumerEngine CreateEngine()
    {
        var root = options.Value;
        var consumerOptions = root.Consumers[Name];
        var config = KafkaClientConfigBuilder.BuildConsumer(root, Name, consumerOptions).ThrowIfInvalid();
        var clients = services.GetRequiredService<KafkaClientFactory>();
        var metrics = services.GetService<ReliableKafkaMetrics>();
        var pipeline = new MessagePipeline<TKey, TValue, THandler>(
            Name,
            consumerOptions.GroupId!,
            Serdes.GetDeserializer<TKey>(services, Name),
            Serdes.GetDeserializer<TValue>(services, Name),
            services.GetRequiredService<IServiceScopeFactory>(),
            FindMessageIdSelector());
        var retryLevels = RetryLevels.For(consumerOptions, config.Guarantee);
        var deadLetters = config.Guarantee != DeliveryGuarantee.AtMostOnce && consumerOptions.FailurePolicy is FailurePolicy.DeadLetter or FailurePolicy.RetryTopic
            ? new DeadLetterWriter(
                DeadLetterWriter.BuildConfig(root, Name, consumerOptions).ThrowIfInvalid(),
                config,
                consumerOptions.DeadLetter,
                consumerOptions.GroupId!,
                time,
                clients,
                retryLevels)
            : null;
        var parking = retryLevels is not null && deadLetters is not null && consumerOptions.RetryTopic.KeyOrder == KeyOrderOnFailure.Park && consumerOptions.OrderingMode != OrderingMode.None
            ? new ParkingLog(
                consumerOptions.RetryTopic.ParkingTopicFor(consumerOptions.GroupId!),
                consumerOptions.GroupId!,
                ReaderSettings.From(config, "parking", "reliablekafka-parking", partitionEof: false, readEverything: true),
                settings => clients.CreateConsumer(settings, KafkaClientRole.ParkingReader, Name, config.Cluster),
                deadLetters,
                Name,
                loggerFactory.CreateLogger(Log.ConsumerCategory),
                time)
            : null;
        var deduplicator = UsesDeduplication(config.Guarantee, consumerOptions)
            ? new Deduplicator(
                services.GetRequiredService<IDeduplicationStore>(),
                consumerOptions.Deduplication,
                Name,
                consumerOptions.GroupId!,
                loggerFactory.CreateLogger(Log.ConsumerCategory),
                time,
                retryLevels,
                metrics?.ForConsumer(Name, consumerOptions.GroupId!))
            : null;
        // The offset store is librdkafka's; a test (the fault-injection suite) may register one that watches each commit.
        return new ConsumerEngine(
            config,
            consumerOptions,
            pipeline,
            loggerFactory,
            time,
            consumerBuilder: settings => clients.CreateConsumerBuilder(settings, KafkaClientRole.Consumer, Name, config.Cluster),
            offsetStore: services.GetService<IGroupOffsetStore>(),
            deadLetters: deadLetters,
            deduplicator: deduplicator,
            retryLevels: retryLevels,
            parking: parking,
            metrics: metrics);
    }

    /// <summary>On when the options say so, or by default when a store was added; never under AtMostOnce (validation refuses contradictions).</summary>
    private bool UsesDeduplication(DeliveryGuarantee guarantee, ConsumerOptions consumerOptions) =>
        guarantee != DeliveryGuarantee.AtMostOnce
        && (consumerOptions.Deduplication.Enabled ?? services.GetService<ReliableKafkaRegistry>()?.DeduplicationStore is not null);

    private Func<MessageContext<TKey, TValue>, string?>? FindMessageIdSelector()
    {
        if (services.GetKeyedService<MessageIdSelector<TKey, TValue>>(Name) is { } selector)
        {
            return selector.Select;
        }

        var registry = services.GetService<ReliableKafkaRegistry>();
        if (registry?.MessageIdSelectors.FirstOrDefault(s => string.Equals(s.Consumer, Name, StringComparison.OrdinalIgnoreCase)) is { Consumer: { } other } added)
        {
            throw new InvalidOperationException(
                $"The message id selector added for consumer '{other}' takes MessageContext<{added.Key.Name}, {added.Value.Name}>, but consumer '{Name}' handles " +
                $"MessageContext<{typeof(TKey).Name}, {typeof(TValue).Name}> (names are matched exactly); add it with UseMessageIdSelector<{typeof(TKey).Name}, {typeof(TValue).Name}>(\"{Name}\", ...).");
        }

        return null;
    }
}
