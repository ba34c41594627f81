using ReliableKafka;

namespace OrderProcessing;

/// <summary>Processes one order. Resolved in a new DI scope per record; its offset is committed only after it returns.</summary>
public sealed class OrderPlacedHandler(OrderLedger ledger) : IMessageHandler<string, OrderPlaced>
{
    public async Task HandleAsync(MessageContext<string, OrderPlaced> context, CancellationToken cancellationToken)
    {
        // A real handler would write to a database or call a service here. An order it cannot take fails: after its
        // retries it goes to the dead-letter topic (orders.dlt), and its offset is committed.
        if (context.Value.Amount <= 0)
        {
            throw new InvalidOperationException($"Order {context.Value.OrderId} has no amount.");
        }

        await Task.Yield();
        ledger.Record(context.Value, context.Partition.Value, context.Offset.Value);
    }
}
