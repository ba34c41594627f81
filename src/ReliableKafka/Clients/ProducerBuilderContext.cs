using Confluent.Kafka;

namespace ReliableKafka;

/// <summary>
/// A Confluent producer builder that ReliableKafka is about to build, handed to the actions added with
/// <c>ConfigureProducerBuilder</c>: set an OAUTHBEARER token refresh handler, a statistics handler or a partitioner
/// on <see cref="Builder"/>.
/// </summary>
/// <remarks>
/// ReliableKafka sets the builder's error and log handlers itself (librdkafka's log goes to the
/// <c>ReliableKafka.Librdkafka</c> logger); setting them here fails the client's creation with an error that says so.
/// Keys and values are bytes here: serialization is ReliableKafka's (serializers come from DI).
/// </remarks>
public sealed class ProducerBuilderContext
{
    internal ProducerBuilderContext(string name, KafkaClientRole role, string? cluster, ProducerBuilder<byte[]?, byte[]?> builder, IServiceProvider services)
    {
        Name = name;
        Role = role;
        Cluster = cluster;
        Builder = builder;
        Services = services;
    }

    /// <summary>Gets the name of the producer, or of the consumer a dead-letter producer belongs to (see <see cref="Role"/>).</summary>
    public string Name { get; }

    /// <summary>Gets what the producer is for.</summary>
    public KafkaClientRole Role { get; }

    /// <summary>Gets the name of the cluster it connects to, or <see langword="null"/> for the default cluster.</summary>
    public string? Cluster { get; }

    /// <summary>Gets the builder.</summary>
    public ProducerBuilder<byte[]?, byte[]?> Builder { get; }

    /// <summary>Gets the application's services.</summary>
    public IServiceProvider Services { get; }
}
