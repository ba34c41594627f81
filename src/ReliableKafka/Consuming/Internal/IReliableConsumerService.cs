namespace ReliableKafka.Consuming.Internal;

/// <summary>Non-generic view of a consumer's hosted service (for tests and diagnostics).</summary>
internal interface IReliableConsumerService
{
    string Name { get; }

    ConsumerEngine? Engine { get; }

    /// <summary>Gets a problem of the service beyond its engine (the delay forwarder's cancellation reader, say), or null.</summary>
    string? Problem => null;
}
