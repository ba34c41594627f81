using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ReliableKafka.Deduplication;
using ReliableKafka.Deduplication.Internal;
using ReliableKafka.DependencyInjection.Internal;

namespace ReliableKafka;

/// <summary>
/// Adds a deduplication store, which makes consumers idempotent (see <see cref="DeduplicationOptions"/>): every
/// consumer that is not AtMostOnce uses it unless its <c>Deduplication:Enabled</c> is false.
/// </summary>
public static class ReliableKafkaDeduplicationBuilderExtensions
{
    /// <summary>Uses an <see cref="InMemoryDeduplicationStore"/> with default options.</summary>
    /// <param name="builder">The builder.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder UseInMemoryDeduplication(this IReliableKafkaBuilder builder) =>
        builder.UseInMemoryDeduplication((Action<InMemoryDeduplicationOptions, IServiceProvider>?)null);

    /// <summary>Uses an <see cref="InMemoryDeduplicationStore"/>, configured in code.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures the store.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder UseInMemoryDeduplication(this IReliableKafkaBuilder builder, Action<InMemoryDeduplicationOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return builder.UseInMemoryDeduplication((options, _) => configure(options));
    }

    /// <summary>Uses an <see cref="InMemoryDeduplicationStore"/>, configured from a configuration section (unknown keys are errors).</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configuration">The section, e.g. <c>ReliableKafka:Deduplication:InMemory</c>.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder UseInMemoryDeduplication(this IReliableKafkaBuilder builder, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return builder.UseInMemoryDeduplication((options, _) => configuration.Bind(options, binder => binder.ErrorOnUnknownConfiguration = true));
    }

    /// <summary>Uses an <see cref="InMemoryDeduplicationStore"/>, configured in code with access to services.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures the store, or <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder UseInMemoryDeduplication(this IReliableKafkaBuilder builder, Action<InMemoryDeduplicationOptions, IServiceProvider>? configure) =>
        builder.UseDeduplicationStore<InMemoryDeduplicationStore, InMemoryDeduplicationOptions>(
            "InMemory",
            (services, options) => new InMemoryDeduplicationStore(options, services.GetRequiredService<TimeProvider>()),
            configure);

    /// <summary>
    /// Uses a deduplication store: registers it as the <see cref="IDeduplicationStore"/> singleton, validates its
    /// options at startup and purges it in the background every <see cref="DeduplicationStoreOptions.PurgeInterval"/>.
    /// For store packages; applications call <c>UseInMemoryDeduplication</c>, <c>UseSqliteDeduplication</c> or
    /// <c>UsePostgreSqlDeduplication</c>. Adding the same store again only adds <paramref name="configure"/>.
    /// </summary>
    /// <typeparam name="TStore">The store.</typeparam>
    /// <typeparam name="TOptions">The store's options.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="storeName">The store's name, shown in messages (e.g. <c>Sqlite</c>).</param>
    /// <param name="create">Creates the store from the services and its validated options.</param>
    /// <param name="configure">Configures the store's options, or <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="InvalidOperationException">A different store was added before.</exception>
    public static IReliableKafkaBuilder UseDeduplicationStore<TStore, TOptions>(
        this IReliableKafkaBuilder builder,
        string storeName,
        Func<IServiceProvider, TOptions, TStore> create,
        Action<TOptions, IServiceProvider>? configure = null)
        where TStore : class, IDeduplicationStore
        where TOptions : DeduplicationStoreOptions
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(storeName);
        ArgumentNullException.ThrowIfNull(create);
        var services = builder.Services;
        var registry = GetRegistry(services);
        var first = registry.DeduplicationStore is null;
        if (!registry.SetDeduplicationStore(storeName))
        {
            throw new InvalidOperationException(
                $"A {registry.DeduplicationStore} deduplication store was added already; a service collection has one deduplication store (cannot add {storeName}).");
        }

        var options = services.AddOptions<TOptions>();
        if (configure is not null)
        {
            options.Configure<IServiceProvider>((o, sp) => configure(o, sp));
        }

        if (first)
        {
            options.ValidateOnStart();
            services.AddSingleton<IValidateOptions<TOptions>>(new DeduplicationStoreOptionsValidator<TOptions>(storeName));
            services.AddSingleton(sp => create(sp, sp.GetRequiredService<IOptions<TOptions>>().Value));
            if (typeof(TStore) != typeof(IDeduplicationStore))
            {
                services.AddSingleton<IDeduplicationStore>(sp => sp.GetRequiredService<TStore>());
            }
            services.AddSingleton<IHostedService>(sp => new DeduplicationPurgeService<TOptions>(
                storeName,
                sp.GetRequiredService<IDeduplicationStore>(),
                sp.GetRequiredService<IOptions<TOptions>>(),
                sp.GetLoggerFactory(),
                sp.GetRequiredService<TimeProvider>()));
        }

        return builder;
    }

    /// <summary>
    /// Sets where consumer <paramref name="consumerName"/> takes each record's message id from, for deduplication:
    /// for example a business key in the value, when the same business event can be produced twice with different
    /// message ids. When the selector returns <see langword="null"/> or an empty string, the usual id applies (the
    /// message id header, else topic/partition@offset). Ids are scoped by consumer group, so they must be unique
    /// across the consumer's topics.
    /// </summary>
    /// <typeparam name="TKey">The consumer's key type.</typeparam>
    /// <typeparam name="TValue">The consumer's value type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="consumerName">The consumer, as added with <c>AddConsumer</c>.</param>
    /// <param name="selector">Returns the message id of a record.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="InvalidOperationException">The consumer has a selector already.</exception>
    public static IReliableKafkaBuilder UseMessageIdSelector<TKey, TValue>(
        this IReliableKafkaBuilder builder, string consumerName, Func<MessageContext<TKey, TValue>, string?> selector)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(consumerName);
        ArgumentNullException.ThrowIfNull(selector);
        if (!GetRegistry(builder.Services).AddMessageIdSelector(consumerName, typeof(TKey), typeof(TValue)))
        {
            throw new InvalidOperationException($"Consumer '{consumerName}' has a message id selector already.");
        }

        builder.Services.AddKeyedSingleton(consumerName, new MessageIdSelector<TKey, TValue>(selector));
        return builder;
    }

    private static ReliableKafkaRegistry GetRegistry(IServiceCollection services) =>
        ReliableKafkaServiceCollectionExtensions.FindRegistry(services)
        ?? throw new InvalidOperationException("Call services.AddReliableKafka(...) before adding a deduplication store.");
}
