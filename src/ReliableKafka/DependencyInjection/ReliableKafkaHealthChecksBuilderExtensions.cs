using Microsoft.Extensions.Diagnostics.HealthChecks;
using ReliableKafka.Diagnostics.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds ReliableKafka's health check to ASP.NET Core / Microsoft.Extensions health checks.</summary>
public static class ReliableKafkaHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a check of every ReliableKafka consumer: unhealthy when one is not running (not started, or stopped by a
    /// fatal error or <c>FailurePolicy.StopConsumer</c>), degraded when failed records wait for a dead-letter write that
    /// keeps failing or a failed record stopped a partition (<c>FailurePolicy.PausePartition</c>).
    /// </summary>
    /// <param name="builder">The health checks builder (<c>services.AddHealthChecks()</c>).</param>
    /// <param name="name">The check's name.</param>
    /// <param name="tags">Tags to filter checks by (e.g. <c>ready</c>).</param>
    /// <returns>The builder.</returns>
    public static IHealthChecksBuilder AddReliableKafka(this IHealthChecksBuilder builder, string name = "reliablekafka", IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(
            name,
            sp => ActivatorUtilities.CreateInstance<ReliableKafkaHealthCheck>(sp),
            failureStatus: null,
            tags));
    }
}
