using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ReliableKafka;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.DependencyInjection.Internal;
using ReliableKafka.Diagnostics.Internal;
using ReliableKafka.Failures.Internal;
using ReliableKafka.Producing.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers ReliableKafka in a service collection.</summary>
public static class ReliableKafkaServiceCollectionExtensions
{
    /// <summary>
    /// Adds ReliableKafka with options configured elsewhere (for example by a later call). Safe to call more
    /// than once. Options are validated when the host starts.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <returns>A builder to add producers and consumers with.</returns>
    public static IReliableKafkaBuilder AddReliableKafka(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);

        if (FindRegistry(services) is null)
        {
            services.AddSingleton(new ReliableKafkaRegistry());
        }

        services.AddOptions<ReliableKafkaOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ReliableKafkaOptions>, ReliableKafkaOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new ReliableKafkaMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton(sp => new KafkaClientFactory(sp, sp.GetLoggerFactory()));
        services.TryAddSingleton(sp => new ProducerClientRegistry(
            sp.GetRequiredService<IOptions<ReliableKafkaOptions>>(),
            sp.GetLoggerFactory(),
            sp.GetRequiredService<KafkaClientFactory>(),
            sp.GetRequiredService<ReliableKafkaMetrics>(),
            sp.GetRequiredService<TimeProvider>()));

        services.TryAddSingleton<IReliableKafkaMonitor>(sp => ActivatorUtilities.CreateInstance<ReliableKafkaMonitor>(sp));

        services.TryAddSingleton<IDeadLetterRedriver>(sp => new DeadLetterRedriver(
            sp.GetRequiredService<IOptions<ReliableKafkaOptions>>(),
            sp.GetLoggerFactory(),
            sp.GetRequiredService<KafkaClientFactory>()));

        // Registered before any consumer: hosted services stop in reverse order, so producers flush after consumers stopped.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ProducerShutdownService>());
        return new ReliableKafkaBuilder(services);
    }

    /// <summary>Adds ReliableKafka and configures its options in code. Safe to call more than once.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>A builder to add producers and consumers with.</returns>
    public static IReliableKafkaBuilder AddReliableKafka(this IServiceCollection services, Action<ReliableKafkaOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var builder = services.AddReliableKafka();
        services.Configure(configure);
        return builder;
    }

    /// <summary>Adds ReliableKafka and configures its options in code with access to services. Safe to call more than once.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>A builder to add producers and consumers with.</returns>
    public static IReliableKafkaBuilder AddReliableKafka(this IServiceCollection services, Action<ReliableKafkaOptions, IServiceProvider> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var builder = services.AddReliableKafka();
        services.AddOptions<ReliableKafkaOptions>().Configure<IServiceProvider>((options, sp) => configure(options, sp));
        return builder;
    }

    /// <summary>
    /// Adds ReliableKafka and binds its options from a configuration section, usually
    /// <c>configuration.GetSection(ReliableKafkaOptions.SectionName)</c>. A key the options do not have is a
    /// startup error. Safe to call more than once.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section to bind (its keys are the properties of <see cref="ReliableKafkaOptions"/>).</param>
    /// <returns>A builder to add producers and consumers with.</returns>
    public static IReliableKafkaBuilder AddReliableKafka(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = services.AddReliableKafka();
        services.AddOptions<ReliableKafkaOptions>().Bind(configuration, binder => binder.ErrorOnUnknownConfiguration = true);
        return builder;
    }

    internal static ReliableKafkaRegistry? FindRegistry(IServiceCollection services) =>
        services
            .Where(d => d.ServiceType == typeof(ReliableKafkaRegistry) && !d.IsKeyedService)
            .Select(d => d.ImplementationInstance)
            .OfType<ReliableKafkaRegistry>()
            .FirstOrDefault();
}
