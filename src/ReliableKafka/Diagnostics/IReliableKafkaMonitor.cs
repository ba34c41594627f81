namespace ReliableKafka;

/// <summary>
/// Reads what ReliableKafka's consumers and producers in this process are doing now: each consumer's state and
/// problems, its partitions' offsets (committed, watermark, records finished beyond it, end offset, lag), buffered and
/// running records, paused or failed partitions, and counts of handled, retried and dead-lettered records; each
/// producer's sends and errors. The dashboard (<c>ReliableKafka.Dashboard</c>) shows it; scripts and tests can read it
/// too. Registered by <c>AddReliableKafka</c>; cheap enough to call every second.
/// </summary>
public interface IReliableKafkaMonitor
{
    /// <summary>Takes a snapshot of every consumer and every producer created so far.</summary>
    /// <returns>The snapshot.</returns>
    ReliableKafkaSnapshot GetSnapshot();

    /// <summary>
    /// Pauses a partition of a consumer in this process: its records stop being taken (those taken run to their end and
    /// are committed as usual) until <see cref="ResumePartition"/>, or until the partition's assignment to this member ends
    /// (the next owner does not know of the pause): with the default cooperative-sticky assignor, a rebalance that moves
    /// it; with an eager one (range, roundrobin), any rebalance. Nothing is skipped: fetching restarts where it stopped,
    /// unless the topic's retention deleted those records during a longer pause. The health check reports paused
    /// partitions (degraded).
    /// </summary>
    /// <param name="consumer">The consumer's name.</param>
    /// <param name="topic">The topic.</param>
    /// <param name="partition">The partition.</param>
    /// <returns>False when there is no such consumer or this member does not own the partition now (true: the pause applies at the consumer's next poll).</returns>
    bool PausePartition(string consumer, string topic, int partition);

    /// <summary>Resumes a partition paused with <see cref="PausePartition"/>.</summary>
    /// <param name="consumer">The consumer's name.</param>
    /// <param name="topic">The topic.</param>
    /// <param name="partition">The partition.</param>
    /// <returns>False when there is no such consumer or this member does not own the partition now.</returns>
    bool ResumePartition(string consumer, string topic, int partition);
}
