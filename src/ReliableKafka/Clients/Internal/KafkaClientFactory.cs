using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Clients.Internal;

/// <summary>An action added with <c>ConfigureProducerBuilder</c>.</summary>
internal sealed record ProducerBuilderHook(Action<ProducerBuilderContext> Configure);

/// <summary>An action added with <c>ConfigureConsumerBuilder</c>.</summary>
internal sealed record ConsumerBuilderHook(Action<ConsumerBuilderContext> Configure);

/// <summary>
/// Creates the builder of every Confluent client ReliableKafka uses and runs the application's builder actions on it
/// first, so that an OAUTHBEARER refresh handler (say) reaches the dead-letter producer and look-up as well as the
/// consumer. The handlers ReliableKafka sets itself come after them: one the application set already is reported as
/// a configuration error naming the client, not Confluent's bare "may not be specified more than once".
/// </summary>
internal sealed class KafkaClientFactory(IServiceProvider services, ILoggerFactory loggerFactory)
{
    private readonly ILogger _librdkafkaLogger = loggerFactory.CreateLogger(Log.LibrdkafkaCategory);
    private readonly ProducerBuilderHook[] _producerHooks = [.. services.GetServices<ProducerBuilderHook>()];
    private readonly ConsumerBuilderHook[] _consumerHooks = [.. services.GetServices<ConsumerBuilderHook>()];

    /// <summary>Gets a factory without application actions (for clients built outside a container, in tests).</summary>
    public static KafkaClientFactory WithoutHooks { get; } = new(NoServices.Instance, NullLoggerFactory.Instance);

    /// <summary>Creates a producer of bytes with the application's actions, librdkafka's log going to ILogger, and <paramref name="onError"/>.</summary>
    public IProducer<byte[]?, byte[]?> CreateProducer(KafkaClientConfig config, KafkaClientRole role, string name, Action<Error>? onError = null)
    {
        var builder = new ProducerBuilder<byte[]?, byte[]?>(config.Values);
        foreach (var hook in _producerHooks)
        {
            RunHook(() => hook.Configure(new ProducerBuilderContext(name, role, config.Cluster, builder, services)), "ConfigureProducerBuilder", role, name);
        }

        SetOwnHandlers(role, name, () =>
        {
            builder.SetLogHandler((_, message) => Log.Librdkafka(_librdkafkaLogger, message));
            if (onError is not null)
            {
                builder.SetErrorHandler((_, error) => onError(error));
            }
        });
        return builder.Build();
    }

    /// <summary>
    /// Creates the builder of a consumer of bytes with the application's actions applied; the caller sets its own
    /// handlers inside <see cref="SetOwnHandlers"/>.
    /// </summary>
    public ConsumerBuilder<byte[]?, byte[]?> CreateConsumerBuilder(
        IEnumerable<KeyValuePair<string, string>> settings, KafkaClientRole role, string name, string? cluster)
    {
        var builder = new ConsumerBuilder<byte[]?, byte[]?>(settings);
        foreach (var hook in _consumerHooks)
        {
            RunHook(() => hook.Configure(new ConsumerBuilderContext(name, role, cluster, builder, services)), "ConfigureConsumerBuilder", role, name);
        }

        return builder;
    }

    /// <summary>Creates a consumer of bytes with the application's actions and librdkafka's log going to ILogger.</summary>
    public IConsumer<byte[]?, byte[]?> CreateConsumer(IEnumerable<KeyValuePair<string, string>> settings, KafkaClientRole role, string name, string? cluster)
    {
        var builder = CreateConsumerBuilder(settings, role, name, cluster);
        SetOwnHandlers(role, name, () => builder.SetLogHandler((_, message) => Log.Librdkafka(_librdkafkaLogger, message)));
        return builder.Build();
    }

    /// <summary>Sets the handlers ReliableKafka owns; one the application's builder action set already is a configuration error.</summary>
    public static void SetOwnHandlers(KafkaClientRole role, string name, Action set)
    {
        try
        {
            set();
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException(
                $"The {Describe(role, name)} cannot be created: a builder action set a handler that ReliableKafka sets itself ({e.Message}). " +
                "ReliableKafka sets the error and log handlers of every client (librdkafka's log goes to the ReliableKafka.Librdkafka logger) " +
                "and the partition assignment, revocation and loss handlers of consumers.",
                e);
        }
    }

    private static void RunHook(Action hook, string method, KafkaClientRole role, string name)
    {
        try
        {
            hook();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"{method} failed for the {Describe(role, name)}: {e.Message}", e);
        }
    }

    private static string Describe(KafkaClientRole role, string name) => role switch
    {
        KafkaClientRole.Producer => $"producer '{name}'",
        KafkaClientRole.Consumer => $"consumer '{name}'",
        KafkaClientRole.DeadLetterProducer => $"dead-letter producer of consumer '{name}'",
        KafkaClientRole.DeadLetterLookup => $"dead-letter look-up of consumer '{name}'",
        KafkaClientRole.RedriveConsumer => "redrive consumer",
        KafkaClientRole.RedriveProducer => "redrive producer",
        KafkaClientRole.DelayCancellationReader => $"cancellation reader of '{name}'",
        _ => $"client '{name}'",
    };

    /// <summary>A container without services, for <see cref="WithoutHooks"/>.</summary>
    private sealed class NoServices : IServiceProvider
    {
        public static NoServices Instance { get; } = new();

        public object? GetService(Type serviceType) =>
            serviceType.IsGenericType && serviceType.GetGenericTypeDefinition() == typeof(IEnumerable<>)
                ? Array.CreateInstance(serviceType.GetGenericArguments()[0], 0)
                : null;
    }
}
