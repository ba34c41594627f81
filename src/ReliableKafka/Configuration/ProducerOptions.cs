using Confluent.Kafka;
using ReliableKafka.Configuration.Internal;

namespace ReliableKafka;

/// <summary>
/// Settings of one named producer (<c>ReliableKafka:Producers:&lt;name&gt;</c>). Producers with the same name
/// share one underlying Confluent.Kafka producer, whatever their key and value types.
/// </summary>
public sealed class ProducerOptions
{
    /// <summary>Gets or sets this producer's guarantee.</summary>
    /// <value>The default is <see langword="null"/>: <see cref="ReliableKafkaOptions.DeliveryGuarantee"/>.</value>
    public DeliveryGuarantee? DeliveryGuarantee { get; set; }

    /// <summary>
    /// Gets or sets how many replicas must acknowledge a write (acks). <see cref="ReliableKafka.DeliveryGuarantee.AtLeastOnce"/>
    /// requires <see cref="Confluent.Kafka.Acks.All"/>; anything else is then a startup error.
    /// </summary>
    /// <value>The default is <see langword="null"/>: the guarantee's value (all for AtLeastOnce, none for AtMostOnce).</value>
    public Acks? Acks { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether every message gets a unique <see cref="ReliableKafkaHeaders.MessageId"/>
    /// header (one set by the caller is kept). Idempotent consumers use it to recognise a message delivered
    /// twice. Turning it off saves librdkafka's per-message header work (measurable at high rates); consumers
    /// then identify messages by a business key or by topic, partition and offset.
    /// </summary>
    /// <value>The default is <see langword="true"/>.</value>
    public bool MessageIdHeader { get; set; } = true;

    /// <summary>Gets or sets how long to wait for more messages before sending a batch (linger.ms).</summary>
    /// <value>The default is 5 ms (librdkafka's default).</value>
    [OptionRange(0, 900_000)]
    public TimeSpan Linger { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Gets or sets the maximum size of a batch in bytes (batch.size).</summary>
    /// <value>The default is 1000000 bytes (librdkafka's default).</value>
    [OptionRange(1, 2_147_483_647)]
    public int BatchSize { get; set; } = 1_000_000;

    /// <summary>Gets or sets the compression codec of batches (compression.type).</summary>
    /// <value>The default is <see cref="CompressionType.None"/>.</value>
    public CompressionType Compression { get; set; } = CompressionType.None;

    /// <summary>
    /// Gets or sets how long a message may take to be delivered, retries included, before <c>ProduceAsync</c>
    /// fails with <see cref="ErrorCode.Local_MsgTimedOut"/> (message.timeout.ms, also known as delivery.timeout.ms).
    /// </summary>
    /// <value>The default is 5 minutes (librdkafka's default). Zero means no limit.</value>
    [OptionRange(0, int.MaxValue)]
    public TimeSpan MessageTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Gets or sets how long stopping the host, or disposing the service provider, waits for messages still
    /// being delivered. Messages undelivered after that fail (their ProduceAsync calls throw) and are logged.
    /// </summary>
    /// <value>The default is 30 seconds.</value>
    [OptionRange(0, 3_600_000)]
    public TimeSpan FlushTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Gets or sets the name of the cluster this producer connects to, one of <see cref="ReliableKafkaOptions.Clusters"/>.
    /// A name that is not configured there is a startup error.
    /// </summary>
    /// <value>The default is <see langword="null"/>: the default cluster (<see cref="ReliableKafkaOptions.BootstrapServers"/>).</value>
    public string? Cluster { get; set; }

    /// <summary>Gets or sets the client id sent to brokers (client.id).</summary>
    /// <value>The default is <see langword="null"/>: <see cref="ReliableKafkaOptions.ClientId"/> (or <c>reliablekafka</c>) followed by <c>-</c> and the producer's name.</value>
    public string? ClientId { get; set; }

    /// <summary>Gets raw librdkafka settings for this producer; they override <see cref="ReliableKafkaOptions.Config"/>.</summary>
    /// <value>The default is empty.</value>
    public Dictionary<string, string> Config { get; } = new(StringComparer.Ordinal);
}
