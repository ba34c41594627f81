using System.Collections.Concurrent;

namespace OrderProcessing;

/// <summary>What the handler processed, in processing order (the demo's stand-in for a database).</summary>
public sealed class OrderLedger
{
    private readonly ConcurrentQueue<ProcessedOrder> _processed = new();

    public IReadOnlyCollection<ProcessedOrder> Processed => _processed;

    public void Record(OrderPlaced order, int partition, long offset) =>
        _processed.Enqueue(new ProcessedOrder(order, partition, offset));
}

public sealed record ProcessedOrder(OrderPlaced Order, int Partition, long Offset);
