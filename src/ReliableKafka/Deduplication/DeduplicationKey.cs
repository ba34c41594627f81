namespace ReliableKafka.Deduplication;

/// <summary>Identifies one message in a deduplication store: its id within a scope (a consumer group).</summary>
/// <param name="Scope">The scope, the consumer group id: two groups processing the same message never suppress each other.</param>
/// <param name="MessageId">The message id (see <see cref="DeduplicationOptions"/> for where it comes from).</param>
public readonly record struct DeduplicationKey(string Scope, string MessageId);
