namespace Scheduling;

/// <summary>Scheduled when an order is placed: if it is still unpaid when this arrives, the order is cancelled.</summary>
public sealed record PaymentDeadline(string OrderId, DateTimeOffset PlacedAt);
