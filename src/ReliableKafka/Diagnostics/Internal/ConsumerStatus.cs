namespace ReliableKafka.Diagnostics.Internal;

/// <summary>What one consumer is doing at a moment: its partitions, and what it parked (read by the gauges and the health check).</summary>
/// <param name="Partitions">The partitions assigned to this member.</param>
/// <param name="Buffered">Records taken and not finished (queued or running), all partitions.</param>
/// <param name="OldestRunning">How long the handler that has been running longest has run, or null when none runs.</param>
/// <param name="ParkedKeys">Keys parked on this member's partitions.</param>
/// <param name="ParkedRecords">Records sent to retry topics behind keys still parked.</param>
internal sealed record ConsumerStatus(IReadOnlyList<PartitionSnapshot> Partitions, int Buffered, TimeSpan? OldestRunning, int ParkedKeys, int ParkedRecords);
