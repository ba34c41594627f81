using ReliableKafka;

namespace Scheduling;

/// <summary>
/// Handles a payment deadline when it is due: cancels the order unless it was paid. The check matters even though paid
/// orders cancel their deadline: a payment that arrives within the cancellation margin of the deadline may not stop it.
/// </summary>
public sealed class PaymentDeadlineHandler(Orders orders, TimeProvider time) : IMessageHandler<string, PaymentDeadline>
{
    public Task HandleAsync(MessageContext<string, PaymentDeadline> context, CancellationToken cancellationToken)
    {
        var deadline = context.Value;
        var waited = time.GetUtcNow() - deadline.PlacedAt;
        Console.WriteLine(orders.CancelUnpaid(deadline.OrderId)
            ? $"{deadline.OrderId}: still unpaid after {waited.TotalSeconds:F1} s, cancelled"
            : $"{deadline.OrderId}: deadline arrived after {waited.TotalSeconds:F1} s, but the order was paid");
        return Task.CompletedTask;
    }
}
