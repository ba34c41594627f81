using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Infrastructure;

/// <summary>Builds a host the way an application would, with logs going to the test output.</summary>
internal static class TestHost
{
    public static IHost Build(ITestOutputHelper output, Action<IServiceCollection> configure, LogCapture? logs = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddProvider(new XunitLoggerProvider(output));
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(60));
        configure(builder.Services);
        return builder.Build();
    }

    /// <summary>
    /// Builds a host with one consumer (named <c>test</c>) whose handler reports to <paramref name="probe"/>, with
    /// <see cref="FastGroup"/> settings. RELIABLEKAFKA_TEST_LIBRDKAFKA_DEBUG sets librdkafka's <c>debug</c>.
    /// </summary>
    public static IHost BuildConsumer(
        ITestOutputHelper output,
        string bootstrapServers,
        string topic,
        string group,
        HandlerProbe probe,
        Action<ConsumerOptions>? configure = null,
        Action<IReliableKafkaBuilder>? configureKafka = null,
        LogCapture? logs = null)
    {
        return Build(output, Configure, logs);

        void Configure(IServiceCollection services)
        {
            services.AddSingleton(probe);
            var builder = services.AddReliableKafka(o => o.BootstrapServers = bootstrapServers)
                .AddConsumer<string, string, ProbeHandler>("test", o =>
                {
                    o.GroupId = group;
                    o.Topics.Add(topic);
                    FastGroup(o);
                    if (Environment.GetEnvironmentVariable("RELIABLEKAFKA_TEST_LIBRDKAFKA_DEBUG") is { Length: > 0 } debug)
                    {
                        o.Config["debug"] = debug;
                    }

                    configure?.Invoke(o);
                });
            configureKafka?.Invoke(builder);
        }
    }

    /// <summary>Consumer settings that make group changes fast on the embedded cluster.</summary>
    public static void FastGroup(ConsumerOptions options)
    {
        options.SessionTimeout = TimeSpan.FromSeconds(3);
        options.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
        options.FetchWaitMax = TimeSpan.FromMilliseconds(20);
        options.CommitInterval = TimeSpan.FromMilliseconds(200);
        options.ShutdownTimeout = TimeSpan.FromSeconds(10);
    }

    /// <summary>Global settings that make clients reconnect quickly after a broker comes back.</summary>
    public static void FastReconnect(ReliableKafkaOptions options)
    {
        foreach (var (key, value) in KafkaClients.FastReconnect)
        {
            options.Config[key] = value;
        }
    }
}
