namespace ReliableKafka;

/// <summary>
/// ReliableKafka's options: the default cluster's connection and the guarantee shared by all clients, further named
/// clusters, and one entry per producer and consumer. Bound from the configuration section <see cref="SectionName"/> when
/// <c>AddReliableKafka(IConfiguration)</c> is used; unknown keys there are startup errors.
/// </summary>
/// <remarks>
/// Configure actions run in the order they are registered: the configuration section given to
/// <c>AddReliableKafka</c> first, then the actions of <c>AddReliableKafka</c>, <c>AddProducer</c> and
/// <c>AddConsumer</c>. Everything is validated when the host starts.
/// </remarks>
public sealed class ReliableKafkaOptions
{
    /// <summary>The configuration section these options are usually bound from: <c>ReliableKafka</c>.</summary>
    public const string SectionName = "ReliableKafka";

    /// <summary>
    /// Gets or sets the initial brokers of the default cluster, comma-separated <c>host:port</c> (bootstrap.servers).
    /// Required unless every producer and consumer names one of the <see cref="Clusters"/>.
    /// </summary>
    /// <value>The default is <see langword="null"/>, which fails validation.</value>
    public string? BootstrapServers { get; set; }

    /// <summary>Gets or sets the client id prefix sent to brokers (client.id); each client appends its name.</summary>
    /// <value>The default is <see langword="null"/>: <c>reliablekafka</c>, so a consumer named orders is <c>reliablekafka-orders</c>.</value>
    public string? ClientId { get; set; }

    /// <summary>Gets or sets the guarantee for every producer and consumer that does not choose its own.</summary>
    /// <value>The default is <see cref="ReliableKafka.DeliveryGuarantee.AtLeastOnce"/>.</value>
    public DeliveryGuarantee DeliveryGuarantee { get; set; } = DeliveryGuarantee.AtLeastOnce;

    /// <summary>Gets the connection security settings of the default cluster (a named cluster has its own).</summary>
    /// <value>The default has every setting unset (plaintext).</value>
    public KafkaSecurityOptions Security { get; } = new();

    /// <summary>
    /// Gets raw librdkafka settings applied to every client of the default cluster, e.g. <c>socket.keepalive.enable</c>
    /// (a named cluster has its own <see cref="KafkaClusterOptions.Config"/> instead). A key that a typed option covers,
    /// a key librdkafka does not know, or a value that contradicts the guarantee is a startup error. Client entries' own
    /// <c>Config</c> override these.
    /// </summary>
    /// <value>The default is empty.</value>
    public Dictionary<string, string> Config { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Gets further Kafka clusters by name, for producers and consumers that set <c>Cluster</c> (for example one
    /// reading from an analytics cluster while the others use the default one).
    /// </summary>
    /// <value>The default is empty: every client uses the default cluster (<see cref="BootstrapServers"/>, <see cref="Security"/>).</value>
    public Dictionary<string, KafkaClusterOptions> Clusters { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets the thresholds of ReliableKafka's health check (<c>ReliableKafka:Health</c>).</summary>
    /// <value>The defaults: brokers unreachable for 30 seconds, no progress for 2 minutes.</value>
    public HealthOptions Health { get; } = new();

    /// <summary>Gets the options of delayed and scheduled messages, used once <c>AddDelayedDelivery</c> was called.</summary>
    /// <value>The defaults of <see cref="ReliableKafka.DelayedDeliveryOptions"/>.</value>
    public DelayedDeliveryOptions DelayedDelivery { get; } = new();

    /// <summary>Gets the producers by name; an entry is created by <c>AddProducer</c> and may be configured here or in code.</summary>
    /// <value>The default is empty. A configured entry whose name no <c>AddProducer</c> registered is a startup error.</value>
    public Dictionary<string, ProducerOptions> Producers { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets the consumers by name; an entry is created by <c>AddConsumer</c> and may be configured here or in code.</summary>
    /// <value>The default is empty. A configured entry whose name no <c>AddConsumer</c> registered is a startup error.</value>
    public Dictionary<string, ConsumerOptions> Consumers { get; } = new(StringComparer.OrdinalIgnoreCase);
}
