using Microsoft.Extensions.DependencyInjection;

namespace ReliableKafka.IntegrationTests.Infrastructure;

internal static class ReliableKafkaBuilderTestExtensions
{
    /// <summary>Adds a configure action for the global options (every client's Config, say).</summary>
    public static IReliableKafkaBuilder AddReliableKafkaConfig(this IReliableKafkaBuilder builder, Action<ReliableKafkaOptions> configure)
    {
        builder.Services.Configure(configure);
        return builder;
    }
}
