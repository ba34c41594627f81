namespace ReliableKafka;

/// <summary>What a redrive did.</summary>
/// <param name="Redriven">Records sent back and acknowledged.</param>
/// <param name="PassedOver">Records the filters excluded, or without an original topic header when no target topic was given.</param>
public sealed record RedriveResult(int Redriven, int PassedOver);
