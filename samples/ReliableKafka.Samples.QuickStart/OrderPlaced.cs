namespace QuickStart;

/// <summary>An order event, written to Kafka as JSON (the default for types without a serializer of their own).</summary>
public sealed record OrderPlaced(string OrderId, decimal Amount);
