using ReliableKafka;

namespace OrderProcessing;

/// <summary>Sends orders that were dead-lettered back to be processed again, once the cause is fixed (e.g. from an admin endpoint).</summary>
public sealed class OrderRedrive(IDeadLetterRedriver redriver)
{
    /// <summary>Re-produces the dead-lettered orders to <c>orders</c>; a second call sends nothing twice.</summary>
    public Task<RedriveResult> RedriveAsync(CancellationToken cancellationToken = default) =>
        redriver.RedriveAsync(new RedriveRequest { DeadLetterTopic = "orders.dlt", OriginalTopic = "orders" }, cancellationToken);
}
