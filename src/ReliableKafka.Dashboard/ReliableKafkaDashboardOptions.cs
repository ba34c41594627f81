namespace ReliableKafka.Dashboard;

/// <summary>Options of the dashboard (<c>MapReliableKafkaDashboard</c>).</summary>
public sealed class ReliableKafkaDashboardOptions
{
    /// <summary>Gets or sets how often the page reads the status again (250 ms to 1 hour).</summary>
    /// <value>The default is 2 seconds.</value>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Gets or sets the page's title.</summary>
    /// <value>The default is <c>ReliableKafka</c>.</value>
    public string Title { get; set; } = "ReliableKafka";

    /// <summary>
    /// Gets or sets whether the page and a <c>POST &lt;pattern&gt;/api/redrive</c> endpoint can redrive the dead-letter topic
    /// of a configured consumer (<see cref="IDeadLetterRedriver"/>; one redrive per topic at a time, back to the records'
    /// original topics). Off by default: the dashboard only reads. Turn it on only behind
    /// <c>RequireAuthorization</c> (the endpoint also requires the header <c>X-ReliableKafka-Dashboard: 1</c>, which a
    /// cross-site form cannot send).
    /// </summary>
    /// <value>The default is <see langword="false"/>.</value>
    public bool AllowRedrive { get; set; }

    /// <summary>
    /// Gets or sets whether the page and <c>POST &lt;pattern&gt;/api/pause</c> and <c>/api/resume</c> endpoints can pause and
    /// resume a partition of a consumer in this process (<see cref="IReliableKafkaMonitor.PausePartition"/>; until resumed or
    /// until a rebalance moves the partition away). Off by default. Turn it on only behind <c>RequireAuthorization</c>
    /// (the endpoints also require the header <c>X-ReliableKafka-Dashboard: 1</c>).
    /// </summary>
    /// <value>The default is <see langword="false"/>.</value>
    public bool AllowPause { get; set; }
}
