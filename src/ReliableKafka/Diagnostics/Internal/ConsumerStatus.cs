namespace ReliableKafka.Diagnostics.Internal;

/// <summary>What one consumer is doing at a moment: its partitions, and what it parked (read by the gauges and the health check).</summary>
/// <param name="Partitions">The partitions assigned to this member.</param>
/// <param name="Buffered">Records taken and not finished (queued or running), all partitions.</param>
/// <param name="OldestRunning">How long the handler that has been running longest has run, or null when none runs.</param>
/// <param name="ParkedKeys">Keys parked on this member's partitions.</param>
/// <param name="ParkedRecords">Records sent to retry topics behind keys still parked.</param>
internal sealed record ConsumerStatus(IReadOnlyList<PartitionStatus> Partitions, int Buffered, TimeSpan? OldestRunning, int ParkedKeys, int ParkedRecords);

/// <summary>One assigned partition at a moment.</summary>
/// <param name="Topic">The topic.</param>
/// <param name="Partition">The partition number.</param>
/// <param name="Committed">The offset this member last committed (or read as committed at assignment), or null.</param>
/// <param name="Watermark">The lowest record taken and not finished (commits stop there), else one past the last record finished; null before the first record.</param>
/// <param name="FinishedBeyondWatermark">Records finished beyond the watermark (kept in the commit metadata).</param>
/// <param name="HighWatermark">librdkafka's last known end offset (refreshed about once a second), or null.</param>
/// <param name="Buffered">Records taken and not finished (queued or running).</param>
/// <param name="Running">Records whose handler runs.</param>
/// <param name="Paused">Whether the partition takes no records for now (paused by backpressure, held, or stopped by a failed record).</param>
/// <param name="Failure">What stopped the partition (<see cref="FailurePolicy.PausePartition"/>), or null.</param>
/// <param name="PausedByOperator">Whether an operator paused it (<see cref="IReliableKafkaMonitor.PausePartition"/>).</param>
internal sealed record PartitionStatus(
    string Topic,
    int Partition,
    long? Committed,
    long? Watermark,
    int FinishedBeyondWatermark,
    long? HighWatermark,
    int Buffered,
    int Running,
    bool Paused,
    string? Failure,
    bool PausedByOperator = false)
{
    /// <summary>Gets the records beyond the committed offset (end offset minus committed), or null while either is unknown.</summary>
    public long? Lag => HighWatermark is { } high && Committed is { } committed ? Math.Max(high - committed, 0) : null;
}
