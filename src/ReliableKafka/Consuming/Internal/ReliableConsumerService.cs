using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Diagnostics.Internal;
using ReliableKafka.Failures.Internal;
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

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var root = options.Value;
        var consumerOptions = root.Consumers[Name];
        var config = KafkaClientConfigBuilder.BuildConsumer(root, Name, consumerOptions).ThrowIfInvalid();
        var pipeline = new MessagePipeline<TKey, TValue, THandler>(
            Name,
            consumerOptions.GroupId!,
            Serdes.GetDeserializer<TKey>(services, Name),
            Serdes.GetDeserializer<TValue>(services, Name),
            services.GetRequiredService<IServiceScopeFactory>());
        var deadLetters = config.Guarantee == DeliveryGuarantee.AtLeastOnce && consumerOptions.FailurePolicy == FailurePolicy.DeadLetter
            ? new DeadLetterWriter(
                DeadLetterWriter.BuildConfig(root, Name, consumerOptions).ThrowIfInvalid(),
                consumerOptions.DeadLetter,
                consumerOptions.GroupId!,
                time,
                loggerFactory.CreateLogger(Log.LibrdkafkaCategory))
            : null;
        _engine = new ConsumerEngine(config, consumerOptions, pipeline, loggerFactory, time, deadLetters: deadLetters);
        await _engine.RunAsync(stoppingToken).ConfigureAwait(false);
    }
}
