using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ReliableKafka.Delay.Internal;
using ReliableKafka.DependencyInjection.Internal;

namespace ReliableKafka;

/// <summary>Adds delayed and scheduled messages to ReliableKafka.</summary>
public static class DelayedDeliveryBuilderExtensions
{
    /// <summary>
    /// Adds delayed delivery: <see cref="IMessageScheduler{TKey, TValue}"/> (for every key and value type) and
    /// <see cref="IMessageScheduler"/> to schedule and cancel messages, a startup check (or creation) of the delay
    /// topics, and, unless <see cref="DelayedDeliveryOptions.Forward"/> is off, the forwarder: a consumer of the tier
    /// topics (<c>ReliableKafka:Consumers:reliablekafka-delay-forwarder</c>) that any number of instances may run. Its
    /// options are <c>ReliableKafka:DelayedDelivery</c>. Adding it again only adds <paramref name="configure"/>.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures the options, or <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder AddDelayedDelivery(this IReliableKafkaBuilder builder, Action<DelayedDeliveryOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var registry = ReliableKafkaServiceCollectionExtensions.FindRegistry(services)
            ?? throw new InvalidOperationException("Call services.AddReliableKafka(...) before AddDelayedDelivery.");
        if (configure is not null)
        {
            services.Configure<ReliableKafkaOptions>(o => configure(o.DelayedDelivery));
        }

        if (!registry.EnableDelayedDelivery())
        {
            return builder;
        }

        registry.AddProducer(DelayRuntime.ProducerName, typeof(byte[]), typeof(byte[]));
        registry.AddConsumer(DelayRuntime.ForwarderName);
        services.PostConfigure<ReliableKafkaOptions>(DelayDefaults.Apply);
        services.AddSingleton<IValidateOptions<ReliableKafkaOptions>>(sp => new DelayedDeliveryValidator(sp.GetRequiredService<ReliableKafkaRegistry>()));
        services.TryAddSingleton<DelayRuntime>();
        services.TryAddSingleton(typeof(IMessageScheduler<,>), typeof(MessageScheduler<,>));
        services.TryAddSingleton<IMessageScheduler, ScheduleCanceller>();
        services.AddSingleton<IHostedService, DelayTopicsService>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<IOptions<ReliableKafkaOptions>>().Value.DelayedDelivery.Forward
            ? new DelayForwarderService(
                sp.GetRequiredService<IOptions<ReliableKafkaOptions>>(), sp, sp.GetLoggerFactory(), sp.GetRequiredService<TimeProvider>())
            : NotForwarding.Instance);
        return builder;
    }

    /// <summary>The forwarder's place when this process only schedules.</summary>
    private sealed class NotForwarding : IHostedService
    {
        public static NotForwarding Instance { get; } = new();

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
