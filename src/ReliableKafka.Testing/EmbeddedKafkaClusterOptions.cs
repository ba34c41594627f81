namespace ReliableKafka.Testing;

/// <summary>Settings for a new <see cref="EmbeddedKafkaCluster"/>.</summary>
public sealed class EmbeddedKafkaClusterOptions
{
    /// <summary>Gets or sets the number of brokers; their ids are 1 to <see cref="BrokerCount"/>.</summary>
    /// <value>The default is 3.</value>
    public int BrokerCount { get; set; } = 3;

    /// <summary>
    /// Gets or sets how long a new consumer group waits for more members before its first rebalance
    /// (Kafka's group.initial.rebalance.delay.ms).
    /// </summary>
    /// <value>
    /// The default is zero, so a test's first consumer gets records within a fraction of a second; the mock
    /// cluster's own default (and a real broker's) is 3 seconds.
    /// </value>
    public TimeSpan GroupInitialRebalanceDelay { get; set; } = TimeSpan.Zero;
}
