using ReliableKafka.Configuration.Internal;

namespace ReliableKafka;

/// <summary>
/// When ReliableKafka's health check (<c>services.AddHealthChecks().AddReliableKafka()</c>) reports a problem that is only
/// one after a while (<c>ReliableKafka:Health</c>).
/// </summary>
public sealed class HealthOptions
{
    /// <summary>
    /// Gets or sets how long no broker of a cluster may be reachable before the check is degraded. With the check added,
    /// a background probe asks each cluster the application uses for its metadata every <see cref="BrokerProbeInterval"/>;
    /// the check is degraded, naming the cluster and since when, while no probe has succeeded for this long.
    /// </summary>
    /// <value>The default is 30 seconds.</value>
    [OptionRange(100, 86_400_000)]
    public TimeSpan BrokersUnreachableAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how often the background probe asks each cluster for its metadata (each probe waits as long at most).</summary>
    /// <value>The default is 5 seconds.</value>
    [OptionRange(100, 3_600_000)]
    public TimeSpan BrokerProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets how long a consumer may finish no record while records it took wait (queued or running) before the
    /// check is degraded: handlers that hang, retries that keep failing, a store or a dead-letter write that keeps
    /// failing. The description says how many records wait and since when the last one finished.
    /// </summary>
    /// <value>The default is 2 minutes.</value>
    [OptionRange(100, 86_400_000)]
    public TimeSpan NoProgressAfter { get; set; } = TimeSpan.FromMinutes(2);
}
