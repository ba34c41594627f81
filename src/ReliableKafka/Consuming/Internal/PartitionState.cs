using Confluent.Kafka;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// One assigned partition for the time this member owns it (a new instance per assignment, so that results
/// finishing after the partition was revoked land in a retired instance and are never committed). Holds the
/// partition's lane: records queued in offset order and handled one at a time by a worker task.
/// </summary>
/// <remarks>
/// Not disposable on purpose: a retired instance can still be referenced by an abandoned handler, and neither
/// the event (no wait handle is ever requested) nor the token source (no timer, no linked registration) holds
/// an unmanaged resource.
/// </remarks>
#pragma warning disable CA1001 // See remarks.
internal sealed class PartitionState(TopicPartition topicPartition)
#pragma warning restore CA1001
{
    private readonly object _gate = new();
    private readonly Queue<ConsumeResult<byte[]?, byte[]?>> _queue = new();
    private readonly ManualResetEventSlim _idle = new(initialState: true);
    private bool _running;
    private bool _stopped;
    private volatile bool _failed;

    /// <summary>What <see cref="Enqueue"/> did with a record.</summary>
    internal enum EnqueueResult
    {
        /// <summary>Queued behind a running worker.</summary>
        Queued,

        /// <summary>Queued, and the lane was idle: the caller starts a worker.</summary>
        StartWorker,

        /// <summary>Not queued: the partition is stopping or failed, or the offset was dispatched before.</summary>
        Rejected,
    }

    public TopicPartition TopicPartition { get; } = topicPartition;

    /// <summary>Gets or sets what runs this partition's lane on the thread pool (one reusable work item per assignment).</summary>
    public IThreadPoolWorkItem? LaneWorkItem { get; set; }

    public PartitionOffsetTracker Offsets { get; } = new();

    /// <summary>Gets the source of the token handlers of this partition receive.</summary>
    public CancellationTokenSource Cancellation { get; } = new();

    /// <summary>Gets a value indicating whether a handler failed: the partition stays paused and nothing at or past the failed offset is committed.</summary>
    public bool Failed => _failed;

    /// <summary>Gets a value indicating whether the partition is being given up (revoked, lost, shutdown): no new handler starts.</summary>
    public bool Stopped
    {
        get
        {
            lock (_gate)
            {
                return _stopped;
            }
        }
    }

    /// <summary>Gets or sets a value indicating whether the partition is paused in the Confluent consumer (poll thread only).</summary>
    public bool PausedInClient { get; set; }

    /// <summary>
    /// Gets the position after the last record handed to this lane (its offset + 1 and its leader epoch), or
    /// <see langword="null"/> before the first one (poll thread only). It equals librdkafka's application position.
    /// </summary>
    public TopicPartitionOffset? NextPosition { get; private set; }

    /// <summary>Gets or sets the offset last committed for this partition by this member (poll thread only).</summary>
    public long? LastCommitted { get; set; }

    /// <summary>Registers a record with the offset tracker and queues it.</summary>
    public EnqueueResult Enqueue(ConsumeResult<byte[]?, byte[]?> record)
    {
        lock (_gate)
        {
            if (_stopped || _failed || !Offsets.Register(record.Offset.Value))
            {
                return EnqueueResult.Rejected;
            }

            _queue.Enqueue(record);
            NextPosition = new TopicPartitionOffset(TopicPartition, new Offset(record.Offset.Value + 1), record.LeaderEpoch);
            if (_running)
            {
                return EnqueueResult.Queued;
            }

            _running = true;
            _idle.Reset();
            return EnqueueResult.StartWorker;
        }
    }

    /// <summary>
    /// Takes the next record for the worker. Returns false when the worker must end: the queue is empty, or
    /// the partition stopped or failed, in which case the queued records are dropped (<paramref name="dropped"/>
    /// says how many; they stay unfinished, so they are never committed).
    /// </summary>
    public bool TryDequeue(out ConsumeResult<byte[]?, byte[]?> record, out int dropped)
    {
        lock (_gate)
        {
            dropped = 0;
            if (!_stopped && !_failed && _queue.TryDequeue(out var next))
            {
                record = next;
                return true;
            }

            dropped = _queue.Count;
            _queue.Clear();
            _running = false;
            _idle.Set();
            record = null!;
            return false;
        }
    }

    /// <summary>Marks the partition failed at a record; the worker drops the records queued behind it.</summary>
    public void Fail() => _failed = true;

    /// <summary>Stops the lane: queued records are dropped and no new handler starts; a running one may finish.</summary>
    public void Stop()
    {
        lock (_gate)
        {
            _stopped = true;
        }
    }

    /// <summary>Waits until no handler of this partition runs.</summary>
    public bool WaitIdle(TimeSpan timeout) => _idle.Wait(timeout);
}
