namespace ReliableKafka;

/// <summary>What a Kafka client that ReliableKafka creates is for (see <see cref="ProducerBuilderContext.Role"/>).</summary>
public enum KafkaClientRole
{
    /// <summary>A producer added with <c>AddProducer</c>; the name is the producer's.</summary>
    Producer,

    /// <summary>A consumer added with <c>AddConsumer</c>; the name is the consumer's.</summary>
    Consumer,

    /// <summary>
    /// The producer that writes a consumer's failed records to its dead-letter topic (and, with
    /// <see cref="FailurePolicy.RetryTopic"/>, to its retry topics and its parking topic); the name is the consumer's.
    /// </summary>
    DeadLetterProducer,

    /// <summary>
    /// The short-lived consumer that looks a record up in a consumer's dead-letter topic before writing it again
    /// (after a write that may have happened); the name is the consumer's. It reads assigned partitions, in no group.
    /// </summary>
    DeadLetterLookup,

    /// <summary>The consumer of a redrive (<see cref="IDeadLetterRedriver"/>); the name is <c>redrive</c>.</summary>
    RedriveConsumer,

    /// <summary>The producer of a redrive (<see cref="IDeadLetterRedriver"/>); the name is <c>redrive</c>.</summary>
    RedriveProducer,

    /// <summary>
    /// The reader of the delayed delivery's cancellation topic in a forwarder process (assigned partitions, in no group);
    /// the name is the forwarder's. The forwarder itself is a <see cref="Consumer"/>, its producer a <see cref="Producer"/>
    /// (named <c>reliablekafka-delay-forwarder</c> and <c>reliablekafka-delay</c>).
    /// </summary>
    DelayCancellationReader,

    /// <summary>
    /// The reader of a consumer's parking topic (<see cref="RetryTopicOptions.ParkingTopic"/>; assigned partitions, in no
    /// group), which tells the consumer which parked keys were released; the name is the consumer's.
    /// </summary>
    ParkingReader,

    /// <summary>
    /// The producer whose only use is asking a cluster for its metadata every few seconds for the health check
    /// (<see cref="HealthOptions.BrokersUnreachableAfter"/>); it sends no message. The name is <c>health</c>, the
    /// cluster that of the context.
    /// </summary>
    HealthProbe,
}
