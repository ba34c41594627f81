namespace ReliableKafka;

/// <summary>
/// A Kafka cluster besides the default one (<c>ReliableKafka:Clusters:&lt;name&gt;</c>): its brokers, security
/// and raw connection settings. A producer or consumer uses it by naming it in its <c>Cluster</c> option; every
/// client ReliableKafka creates for that consumer (its dead-letter producer and look-up, a redrive that names the
/// cluster) connects to it the same way.
/// </summary>
/// <remarks>
/// Nothing of the default cluster carries over to a named cluster: not its <see cref="ReliableKafkaOptions.BootstrapServers"/>,
/// <see cref="ReliableKafkaOptions.Security"/> or <see cref="ReliableKafkaOptions.Config"/> (raw settings may hold
/// credentials meant for other brokers). A client's own <c>Config</c> overrides this cluster's <see cref="Config"/>.
/// </remarks>
public sealed class KafkaClusterOptions
{
    /// <summary>Gets or sets the initial brokers of this cluster, comma-separated <c>host:port</c> (bootstrap.servers). Required.</summary>
    /// <value>The default is <see langword="null"/>, which fails validation.</value>
    public string? BootstrapServers { get; set; }

    /// <summary>Gets the connection security settings of this cluster.</summary>
    /// <value>The default has every setting unset (plaintext).</value>
    public KafkaSecurityOptions Security { get; } = new();

    /// <summary>
    /// Gets raw librdkafka settings for the clients of this cluster (for example <c>sasl.oauthbearer.method</c>), in place
    /// of <see cref="ReliableKafkaOptions.Config"/>; checked like it.
    /// </summary>
    /// <value>The default is empty.</value>
    public Dictionary<string, string> Config { get; } = new(StringComparer.Ordinal);
}
