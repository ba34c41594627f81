namespace OrderProcessing;

/// <summary>An order event; <see cref="Sequence"/> numbers a customer's orders, so the demo can check their order.</summary>
public sealed record OrderPlaced(string OrderId, string CustomerId, int Sequence, decimal Amount, string RunId);
