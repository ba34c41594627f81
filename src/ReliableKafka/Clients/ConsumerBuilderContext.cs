using Confluent.Kafka;

namespace ReliableKafka;

/// <summary>
/// A Confluent consumer builder that ReliableKafka is about to build, handed to the actions added with
/// <c>ConfigureConsumerBuilder</c>: set an OAUTHBEARER token refresh handler or a statistics handler on
/// <see cref="Builder"/>.
/// </summary>
/// <remarks>
/// ReliableKafka sets the builder's error and log handlers, and the partition assignment, revocation and loss
/// handlers its consumer loop depends on; setting them here fails the client's creation with an error that says so.
/// Offsets are committed by ReliableKafka: an offset commit handler would not see every commit.
/// </remarks>
public sealed class ConsumerBuilderContext
{
    internal ConsumerBuilderContext(string name, KafkaClientRole role, string? cluster, ConsumerBuilder<byte[]?, byte[]?> builder, IServiceProvider services)
    {
        Name = name;
        Role = role;
        Cluster = cluster;
        Builder = builder;
        Services = services;
    }

    /// <summary>Gets the name of the consumer (for a dead-letter look-up, of the consumer it serves; see <see cref="Role"/>).</summary>
    public string Name { get; }

    /// <summary>Gets what the consumer is for.</summary>
    public KafkaClientRole Role { get; }

    /// <summary>Gets the name of the cluster it connects to, or <see langword="null"/> for the default cluster.</summary>
    public string? Cluster { get; }

    /// <summary>Gets the builder.</summary>
    public ConsumerBuilder<byte[]?, byte[]?> Builder { get; }

    /// <summary>Gets the application's services.</summary>
    public IServiceProvider Services { get; }
}
