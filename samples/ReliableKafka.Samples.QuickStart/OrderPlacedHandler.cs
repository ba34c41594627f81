using ReliableKafka;

namespace QuickStart;

/// <summary>
/// Handles one order. Resolved from a new DI scope per record. Returning lets the record's offset be committed;
/// throwing retries it (Retry options), then sends it to the dead-letter topic orders.dlt.
/// </summary>
public sealed class OrderPlacedHandler : IMessageHandler<string, OrderPlaced>
{
    public Task HandleAsync(MessageContext<string, OrderPlaced> context, CancellationToken cancellationToken)
    {
        Console.WriteLine($"Handled {context.Value.OrderId} of {context.Key} ({context.Value.Amount}) from {context.Topic} [{context.Partition.Value}] @{context.Offset.Value}");
        return Task.CompletedTask;
    }
}
