using ReliableKafka;

namespace OrderProcessing;

/// <summary>Places orders: any class can take an IReliableProducer from DI.</summary>
public sealed class Checkout(IReliableProducer<string, OrderPlaced> producer)
{
    /// <summary>Completes when the brokers acknowledged the order; the customer id as key keeps a customer's orders in order.</summary>
    public Task<ProduceResult> PlaceAsync(string topic, OrderPlaced order, CancellationToken cancellationToken = default) =>
        producer.ProduceAsync(topic, order.CustomerId, order, cancellationToken);
}
