using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.DependencyInjection.Internal;
using ReliableKafka.Producing.Internal;

namespace ReliableKafka;

/// <summary>Adds producers and consumers to ReliableKafka.</summary>
public static class ReliableKafkaBuilderExtensions
{
    /// <summary>The name of the producer added without a name.</summary>
    public const string DefaultProducerName = "default";

    /// <summary>Adds the producer named <see cref="DefaultProducerName"/> for keys of type <typeparamref name="TKey"/> and values of type <typeparamref name="TValue"/>.</summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder AddProducer<TKey, TValue>(this IReliableKafkaBuilder builder) =>
        builder.AddProducer<TKey, TValue>(DefaultProducerName, (Action<ProducerOptions, IServiceProvider>?)null);

    /// <summary>Adds the producer named <see cref="DefaultProducerName"/> and configures it.</summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures the producer's options.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder AddProducer<TKey, TValue>(this IReliableKafkaBuilder builder, Action<ProducerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return builder.AddProducer<TKey, TValue>(DefaultProducerName, configure);
    }

    /// <summary>
    /// Adds a named producer: <see cref="IReliableProducer{TKey, TValue}"/> as a singleton keyed by
    /// <paramref name="name"/>, and unkeyed too when it is the first producer of these types. Its options are
    /// <c>ReliableKafka:Producers:&lt;name&gt;</c>. Producers of the same name share one Kafka producer.
    /// Adding the same name and types again only adds <paramref name="configure"/>.
    /// </summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="name">The producer's name.</param>
    /// <param name="configure">Configures the producer's options, or <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder AddProducer<TKey, TValue>(this IReliableKafkaBuilder builder, string name, Action<ProducerOptions>? configure = null) =>
        builder.AddProducer<TKey, TValue>(name, configure is null ? null : (options, _) => configure(options));

    /// <summary>Adds a named producer (see <see cref="AddProducer{TKey, TValue}(IReliableKafkaBuilder, string, Action{ProducerOptions}?)"/>), configured with access to services.</summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="name">The producer's name.</param>
    /// <param name="configure">Configures the producer's options, or <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder AddProducer<TKey, TValue>(this IReliableKafkaBuilder builder, string name, Action<ProducerOptions, IServiceProvider>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var services = builder.Services;
        var registry = GetRegistry(services);

        services.AddOptions<ReliableKafkaOptions>().Configure<IServiceProvider>((options, sp) =>
        {
            var producer = GetOrAdd(options.Producers, name);
            configure?.Invoke(producer, sp);
        });

        if (registry.AddProducer(name, typeof(TKey), typeof(TValue)))
        {
            services.AddKeyedSingleton<IReliableProducer<TKey, TValue>>(
                name,
                (sp, _) => new ReliableProducer<TKey, TValue>(name, sp.GetRequiredService<ProducerClientRegistry>(), sp, sp.GetRequiredService<TimeProvider>()));
            services.TryAddSingleton(sp => sp.GetRequiredKeyedService<IReliableProducer<TKey, TValue>>(name));
        }

        return builder;
    }

    /// <summary>
    /// Adds a consumer named <paramref name="name"/> that runs <typeparamref name="THandler"/> for every record
    /// of its topics, as a hosted service. Its options are <c>ReliableKafka:Consumers:&lt;name&gt;</c> (GroupId
    /// and Topics are required). The handler is registered as scoped unless registered already.
    /// </summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <typeparam name="THandler">The handler.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="name">The consumer's name, unique among consumers.</param>
    /// <param name="configure">Configures the consumer's options, or <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="InvalidOperationException">A consumer with this name was added before.</exception>
    public static IReliableKafkaBuilder AddConsumer<TKey, TValue, THandler>(this IReliableKafkaBuilder builder, string name, Action<ConsumerOptions>? configure = null)
        where THandler : class, IMessageHandler<TKey, TValue> =>
        builder.AddConsumer<TKey, TValue, THandler>(name, configure is null ? null : (options, _) => configure(options));

    /// <summary>Adds a consumer (see <see cref="AddConsumer{TKey, TValue, THandler}(IReliableKafkaBuilder, string, Action{ConsumerOptions}?)"/>), configured with access to services.</summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <typeparam name="THandler">The handler.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="name">The consumer's name, unique among consumers.</param>
    /// <param name="configure">Configures the consumer's options, or <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="InvalidOperationException">A consumer with this name was added before.</exception>
    public static IReliableKafkaBuilder AddConsumer<TKey, TValue, THandler>(this IReliableKafkaBuilder builder, string name, Action<ConsumerOptions, IServiceProvider>? configure)
        where THandler : class, IMessageHandler<TKey, TValue>
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var services = builder.Services;
        if (!GetRegistry(services).AddConsumer(name))
        {
            throw new InvalidOperationException($"A consumer named '{name}' was added already; consumer names must be unique.");
        }

        services.AddOptions<ReliableKafkaOptions>().Configure<IServiceProvider>((options, sp) =>
        {
            var consumer = GetOrAdd(options.Consumers, name);
            configure?.Invoke(consumer, sp);
        });
        services.TryAddScoped<THandler>();
        services.AddSingleton<IHostedService>(sp => new ReliableConsumerService<TKey, TValue, THandler>(
            name,
            sp.GetRequiredService<IOptions<ReliableKafkaOptions>>(),
            sp,
            sp.GetLoggerFactory(),
            sp.GetRequiredService<TimeProvider>()));
        return builder;
    }

    /// <summary>
    /// Adds (or configures further) a named Kafka cluster, <c>ReliableKafka:Clusters:&lt;name&gt;</c>, for producers and
    /// consumers whose <c>Cluster</c> option names it. A cluster may as well be configured only in configuration.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="name">The cluster's name.</param>
    /// <param name="configure">Configures the cluster (its BootstrapServers is required).</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder AddCluster(this IReliableKafkaBuilder builder, string name, Action<KafkaClusterOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure<ReliableKafkaOptions>(options => configure(GetOrAdd(options.Clusters, name)));
        return builder;
    }

    /// <summary>
    /// Adds an action that runs on the Confluent builder of every producer ReliableKafka creates (those added with
    /// <c>AddProducer</c>, the dead-letter producers and the redrive's), before it is built: for an OAUTHBEARER token
    /// refresh handler, a statistics handler or a partitioner. <see cref="ProducerBuilderContext.Role"/> and
    /// <see cref="ProducerBuilderContext.Name"/> say which client it is. Actions run in the order they were added.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures a producer builder.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder ConfigureProducerBuilder(this IReliableKafkaBuilder builder, Action<ProducerBuilderContext> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddSingleton(new ProducerBuilderHook(configure));
        return builder;
    }

    /// <summary>
    /// Adds an action that runs on the Confluent builder of every consumer ReliableKafka creates (those added with
    /// <c>AddConsumer</c>, the dead-letter look-ups and the redrive's), before it is built: for an OAUTHBEARER token
    /// refresh handler or a statistics handler. <see cref="ConsumerBuilderContext.Role"/> and
    /// <see cref="ConsumerBuilderContext.Name"/> say which client it is. Actions run in the order they were added.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures a consumer builder.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder ConfigureConsumerBuilder(this IReliableKafkaBuilder builder, Action<ConsumerBuilderContext> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddSingleton(new ConsumerBuilderHook(configure));
        return builder;
    }

    private static ReliableKafkaRegistry GetRegistry(IServiceCollection services) =>
        ReliableKafkaServiceCollectionExtensions.FindRegistry(services)
        ?? throw new InvalidOperationException("Call services.AddReliableKafka(...) before adding producers or consumers.");

    private static T GetOrAdd<T>(Dictionary<string, T> clients, string name)
        where T : new()
    {
        if (!clients.TryGetValue(name, out var options))
        {
            options = new T();
            clients[name] = options;
        }

        return options;
    }
}
