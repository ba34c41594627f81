namespace ReliableKafka;

/// <summary>What ReliableKafka's consumers and producers in this process were doing at one moment (<see cref="IReliableKafkaMonitor"/>).</summary>
public sealed class ReliableKafkaSnapshot
{
    /// <summary>Gets when the snapshot was taken.</summary>
    public required DateTimeOffset TakenAt { get; init; }

    /// <summary>Gets every consumer (the delay forwarder included, when delayed delivery forwards here).</summary>
    public required IReadOnlyList<ConsumerSnapshot> Consumers { get; init; }

    /// <summary>Gets every producer created so far (producers are created on first use).</summary>
    public required IReadOnlyList<ProducerSnapshot> Producers { get; init; }
}

/// <summary>Whether a consumer runs (<see cref="ConsumerSnapshot.State"/>).</summary>
public enum ConsumerRunState
{
    /// <summary>The consumer has not started yet.</summary>
    NotStarted = 0,

    /// <summary>The consumer runs.</summary>
    Running = 1,

    /// <summary>The consumer stopped: the host is stopping, or a fatal error or <see cref="FailurePolicy.StopConsumer"/> stopped it (<see cref="ConsumerSnapshot.StoppedBecause"/>).</summary>
    Stopped = 2,
}

/// <summary>One consumer at one moment.</summary>
public sealed class ConsumerSnapshot
{
    /// <summary>Gets the consumer's name.</summary>
    public required string Name { get; init; }

    /// <summary>Gets its consumer group.</summary>
    public required string GroupId { get; init; }

    /// <summary>Gets the topics it subscribes to (its retry topics included).</summary>
    public required IReadOnlyList<string> Topics { get; init; }

    /// <summary>Gets whether it runs.</summary>
    public required ConsumerRunState State { get; init; }

    /// <summary>Gets why it stopped, when an error stopped it; otherwise null.</summary>
    public string? StoppedBecause { get; init; }

    /// <summary>Gets what the health check reports about it now (records waiting for a failing store, stopped partitions, no progress...); empty when nothing.</summary>
    public required IReadOnlyList<string> Problems { get; init; }

    /// <summary>Gets the records taken and not finished (queued or running).</summary>
    public required int Buffered { get; init; }

    /// <summary>Gets the records whose handler runs.</summary>
    public required int Running { get; init; }

    /// <summary>Gets how long the handler that has been running longest has run, or null when none runs.</summary>
    public TimeSpan? OldestRunning { get; init; }

    /// <summary>Gets the records handled since the consumer started (their handler succeeded, or they were processed before).</summary>
    public required long Handled { get; init; }

    /// <summary>Gets the handler attempts that failed and were tried again in place.</summary>
    public required long Retries { get; init; }

    /// <summary>Gets the failed records sent to a retry topic (<see cref="FailurePolicy.RetryTopic"/>).</summary>
    public required long RetriedThroughTopics { get; init; }

    /// <summary>Gets the records written to a dead-letter topic.</summary>
    public required long DeadLettered { get; init; }

    /// <summary>Gets the failed records skipped (<see cref="FailurePolicy.Skip"/>).</summary>
    public required long Skipped { get; init; }

    /// <summary>Gets the keys parked on this member's partitions (<see cref="KeyOrderOnFailure.Park"/>).</summary>
    public required int ParkedKeys { get; init; }

    /// <summary>Gets the partitions assigned to this member.</summary>
    public required IReadOnlyList<PartitionSnapshot> Partitions { get; init; }
}

/// <summary>One assigned partition at one moment.</summary>
public sealed class PartitionSnapshot
{
    /// <summary>Gets the topic.</summary>
    public required string Topic { get; init; }

    /// <summary>Gets the partition number.</summary>
    public required int Partition { get; init; }

    /// <summary>Gets the offset last committed (or read as committed when the partition was assigned), or null.</summary>
    public long? CommittedOffset { get; init; }

    /// <summary>Gets the watermark: the lowest record taken and not finished (commits stop there), else one past the last record finished; null before the first record.</summary>
    public long? Watermark { get; init; }

    /// <summary>Gets the records finished beyond the watermark (kept in the commit metadata, so they are not handled again).</summary>
    public required int FinishedBeyondWatermark { get; init; }

    /// <summary>Gets librdkafka's last known end offset (refreshed about once a second), or null.</summary>
    public long? HighWatermark { get; init; }

    /// <summary>Gets the records beyond the committed offset (end offset minus committed offset), or null while either is unknown.</summary>
    public long? Lag { get; init; }

    /// <summary>Gets the records taken and not finished.</summary>
    public required int Buffered { get; init; }

    /// <summary>Gets the records whose handler runs.</summary>
    public required int Running { get; init; }

    /// <summary>Gets whether the partition takes no records for now (paused by backpressure, held, or stopped by a failed record).</summary>
    public required bool Paused { get; init; }

    /// <summary>Gets what stopped the partition (<see cref="FailurePolicy.PausePartition"/>), or null.</summary>
    public string? Failure { get; init; }

    /// <summary>Gets whether an operator paused it (<see cref="IReliableKafkaMonitor.PausePartition"/>); it is then also <see cref="Paused"/> once the pause took effect.</summary>
    public bool PausedByOperator { get; init; }
}

/// <summary>One producer at one moment.</summary>
public sealed class ProducerSnapshot
{
    /// <summary>Gets the producer's name.</summary>
    public required string Name { get; init; }

    /// <summary>Gets the messages acknowledged since it was created.</summary>
    public required long Sent { get; init; }

    /// <summary>Gets the messages whose delivery failed since it was created (a message refused before it was queued, by its serializer say, is not counted: its call threw).</summary>
    public required long Failed { get; init; }

    /// <summary>Gets the fatal error that made it unusable, or null.</summary>
    public string? FatalError { get; init; }
}
