using System.Collections.Concurrent;

namespace ReliableKafka.IntegrationTests.Infrastructure;

/// <summary>A JSON value type for consumers that deserialize (so that bytes which are not an order are poison).</summary>
public sealed record Order(string OrderId, decimal Amount);

/// <summary>What <see cref="OrderHandler"/> saw.</summary>
internal sealed class OrderLog
{
    private int _attempts;

    public ConcurrentBag<string> Ids { get; } = [];

    /// <summary>Gets how many times the handler ran.</summary>
    public int Attempts => Volatile.Read(ref _attempts);

    public void Attempted() => Interlocked.Increment(ref _attempts);
}

/// <summary>Records each order's id.</summary>
internal sealed class OrderHandler(OrderLog log) : IMessageHandler<string, Order>
{
    public Task HandleAsync(MessageContext<string, Order> context, CancellationToken cancellationToken)
    {
        log.Attempted();
        log.Ids.Add(context.Value.OrderId);
        return Task.CompletedTask;
    }
}
