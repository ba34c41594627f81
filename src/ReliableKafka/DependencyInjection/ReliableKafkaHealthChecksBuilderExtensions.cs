using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using ReliableKafka.Diagnostics.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds ReliableKafka's health check to ASP.NET Core / Microsoft.Extensions health checks.</summary>
public static class ReliableKafkaHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a check of ReliableKafka's consumers, producers and clusters: unhealthy when a consumer is not running (not
    /// started, or stopped by a fatal error or <c>FailurePolicy.StopConsumer</c>) or a producer hit a fatal error;
    /// degraded when no broker of a cluster in use answered for <see cref="ReliableKafka.HealthOptions.BrokersUnreachableAfter"/>
    /// (a background probe asks each cluster for its metadata), when a consumer finished no record for
    /// <see cref="ReliableKafka.HealthOptions.NoProgressAfter"/> while records wait, when failed records wait for a
    /// dead-letter write, a deduplication store or a deserializer that keeps failing, or when a failed record stopped a
    /// partition (<c>FailurePolicy.PausePartition</c>). The description names each problem and since when.
    /// </summary>
    /// <param name="builder">The health checks builder (<c>services.AddHealthChecks()</c>).</param>
    /// <param name="name">The check's name.</param>
    /// <param name="tags">Tags to filter checks by (e.g. <c>ready</c>).</param>
    /// <returns>The builder.</returns>
    public static IHealthChecksBuilder AddReliableKafka(this IHealthChecksBuilder builder, string name = "reliablekafka", IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!builder.Services.Any(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(BrokerReachability)))
        {
            builder.Services.AddSingleton<IHostedService, BrokerReachability>();
        }

        return builder.Add(new HealthCheckRegistration(
            name,
            sp => ActivatorUtilities.CreateInstance<ReliableKafkaHealthCheck>(sp),
            failureStatus: null,
            tags));
    }
}
