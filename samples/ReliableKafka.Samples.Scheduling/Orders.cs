using System.Collections.Concurrent;

namespace Scheduling;

/// <summary>The shop's orders (in memory here; a database in a real shop).</summary>
public sealed class Orders
{
    private readonly ConcurrentDictionary<string, string> _status = new();

    public IReadOnlyDictionary<string, string> Status => _status;

    public void Place(string orderId) => _status[orderId] = "placed";

    public void Pay(string orderId) => _status.TryUpdate(orderId, "paid", "placed");

    /// <summary>Cancels an order that is still unpaid; false when it was paid meanwhile.</summary>
    public bool CancelUnpaid(string orderId) => _status.TryUpdate(orderId, "cancelled", "placed");
}
