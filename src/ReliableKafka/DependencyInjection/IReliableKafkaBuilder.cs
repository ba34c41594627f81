using Microsoft.Extensions.DependencyInjection;

namespace ReliableKafka;

/// <summary>
/// Returned by <c>AddReliableKafka</c>; producers and consumers are added on it
/// (<c>.AddProducer&lt;TKey, TValue&gt;()</c>, <c>.AddConsumer&lt;TKey, TValue, THandler&gt;(name)</c>).
/// </summary>
public interface IReliableKafkaBuilder
{
    /// <summary>Gets the service collection.</summary>
    IServiceCollection Services { get; }
}
