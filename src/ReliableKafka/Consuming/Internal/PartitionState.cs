using Confluent.Kafka;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// One assigned partition for the time this member owns it (a new instance per assignment, so that results
/// finishing after the partition was revoked land in a retired instance and are never committed). Routes each
/// record to its lane by the ordering mode and tracks its offsets.
/// </summary>
/// <remarks>
/// Not disposable on purpose: a retired instance can still be referenced by an abandoned handler, and neither
/// the event (no wait handle is ever requested) nor the token source (no timer, no linked registration) holds
/// an unmanaged resource.
/// </remarks>
#pragma warning disable CA1001 // See remarks.
internal sealed class PartitionState(TopicPartition topicPartition, OrderingMode mode, Action<Lane> runLane)
#pragma warning restore CA1001
{
    private readonly object _gate = new();
    private readonly Dictionary<byte[], Lane> _keyLanes = new(ByteArrayComparer.Instance);
    private readonly HashSet<Lane> _activeLanes = [];
    private readonly ManualResetEventSlim _idle = new(initialState: true);
    private readonly CancellationTokenSource _stopping = new();
    private long _backlog = -1;
    private long _highWatermark = -1;
    private long _committedOffset = -1;
    private bool _operatorPauseRequested;
    private (long Offset, string? Metadata)? _lastCommitted;
    private Lane? _partitionLane;
    private HashSet<long>? _finishedByPreviousOwner;
    private int _runningLanes;
    private int _buffered;
    private bool _stopped;
    private bool _finishQueued;
    private volatile Exception? _failure;
    private long _stalledSinceTicks;

    /// <summary>What <see cref="Enqueue"/> did with a record.</summary>
    internal enum EnqueueResult
    {
        /// <summary>Queued behind a running record of its lane.</summary>
        Queued,

        /// <summary>Queued in an idle lane: the caller starts the lane.</summary>
        StartLane,

        /// <summary>Finished already by a previous owner (commit metadata): counted as finished, not handled.</summary>
        Skipped,

        /// <summary>Not taken: the partition is stopping or failed, or the offset was dispatched before.</summary>
        Rejected,
    }

    public TopicPartition TopicPartition { get; } = topicPartition;

    public PartitionOffsetTracker Offsets { get; } = new();

    /// <summary>Gets the keys parked on this partition (<see cref="KeyOrderOnFailure.Park"/>; empty for other policies).</summary>
    public Failures.Internal.Retry.ParkedKeys Parked { get; } = new();

    /// <summary>Gets the source of the token handlers of this partition receive.</summary>
    public CancellationTokenSource Cancellation { get; } = new();

    /// <summary>Gets a token that fires when the partition stops (<see cref="Stop"/>), before its running handlers are cancelled: waits between attempts end then.</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Gets a value indicating whether a handler failed: the partition stays paused and nothing at or past the failed offset is committed.</summary>
    public bool Failed => _failure is not null;

    /// <summary>Gets why a handler failed the partition (see <see cref="Failed"/>), or <see langword="null"/>.</summary>
    public Exception? Failure => _failure;

    /// <summary>Gets a value indicating whether the partition is being given up (revoked, lost, shutdown): it takes no new records.</summary>
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

    /// <summary>Gets a value indicating whether the partition stopped and its queued records are not to be handled.</summary>
    public bool DropsQueued
    {
        get
        {
            lock (_gate)
            {
                return _stopped && !_finishQueued;
            }
        }
    }

    /// <summary>
    /// Gets or sets whether the partition is paused in the Confluent consumer (poll thread only): <see langword="null"/>
    /// while unknown, from its assignment until the engine first pauses or resumes it. librdkafka keeps an application
    /// pause across unassign and assign, so a partition paused during an earlier assignment may come back paused.
    /// </summary>
    public bool? PausedInClient { get; set; }

    /// <summary>
    /// Gets or sets why the partition takes no records for now (poll thread only). A record refused while held
    /// is not registered; the partition is paused and fetching restarts at <see cref="RefusedAt"/>, so it comes again.
    /// </summary>
    public HoldReasons Hold { get; set; }

    /// <summary>
    /// Gets the first record refused since fetching last restarted (its offset and leader epoch), or
    /// <see langword="null"/> (poll thread only). librdkafka has already moved past it, so until the engine seeks
    /// back here every later record of the partition is refused as well: none is ever skipped.
    /// </summary>
    public TopicPartitionOffset? RefusedAt { get; private set; }

    /// <summary>Remembers that a fetched record was not taken (see <see cref="RefusedAt"/>; the lowest one counts).</summary>
    public void Refuse(ConsumeResult<byte[]?, byte[]?> record)
    {
        if (RefusedAt is null || record.Offset.Value < RefusedAt.Offset.Value)
        {
            RefusedAt = new TopicPartitionOffset(TopicPartition, record.Offset, record.LeaderEpoch);
        }
    }

    /// <summary>
    /// Gets or sets how many records lie between the partition's position and librdkafka's last known end offset, as of
    /// the last stall check (about once a second; -1 when unknown). Written on the poll thread, read by metrics.
    /// </summary>
    public long Backlog
    {
        get => Volatile.Read(ref _backlog);
        set => Volatile.Write(ref _backlog, value);
    }

    /// <summary>Gets or sets when the partition's next record is due, while it is held for it (<see cref="HoldReasons.NotDue"/>; poll thread only).</summary>
    public DateTimeOffset? DueAt { get; set; }

    /// <summary>Records that fetching restarted at <see cref="RefusedAt"/>.</summary>
    public void Rewound() => RefusedAt = null;

    /// <summary>Gets the number of this partition's records taken and not finished (queued or running).</summary>
    public int Buffered => Volatile.Read(ref _buffered);

    /// <summary>
    /// Gets the position after the last record taken (its offset + 1 and its leader epoch), or <see langword="null"/>
    /// before the first one (poll thread only). It equals librdkafka's application position.
    /// </summary>
    public TopicPartitionOffset? NextPosition { get; private set; }

    /// <summary>Gets or sets when a record of the partition last arrived, or fetching last (re)started (a timestamp; poll thread only).</summary>
    public long LastFetched { get; set; }

    /// <summary>Gets or sets the group's committed offset when the partition was assigned; null when it had none (poll thread only).</summary>
    public long? StartOffset { get; set; }

    /// <summary>Gets or sets a value indicating whether <see cref="StartOffset"/> was read (poll thread only).</summary>
    public bool StartKnown { get; set; }

    /// <summary>
    /// Gets or sets since when the partition has fetched nothing although nothing holds it and records wait, or
    /// <see langword="null"/> (written on the poll thread, read by the health check through the published assignment).
    /// </summary>
    public DateTimeOffset? StalledSince
    {
        get => Volatile.Read(ref _stalledSinceTicks) is var ticks and not 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;
        set => Volatile.Write(ref _stalledSinceTicks, value?.UtcTicks ?? 0);
    }

    /// <summary>
    /// Gets or sets the offset and metadata last committed for this partition by this member (poll thread only); null
    /// when not known or when it must be committed again.
    /// </summary>
    public (long Offset, string? Metadata)? LastCommitted
    {
        get => _lastCommitted;
        set
        {
            _lastCommitted = value;
            if (value is { } committed)
            {
                Volatile.Write(ref _committedOffset, committed.Offset);
            }
        }
    }

    /// <summary>
    /// Gets or sets the offset last known committed (any thread; read at assignment, then each commit's; kept when
    /// <see cref="LastCommitted"/> is cleared to commit again), or -1. For metrics and the dashboard only.
    /// </summary>
    public long CommittedOffset
    {
        get => Volatile.Read(ref _committedOffset);
        set => Volatile.Write(ref _committedOffset, value);
    }

    /// <summary>Gets or sets whether the partition is in <see cref="Admission"/>'s list of held partitions (poll thread only).</summary>
    public bool InHeldList { get; set; }

    /// <summary>Gets or sets whether an operator asked this assignment of the partition to pause (any thread; applied by the poll thread as <see cref="HoldReasons.Operator"/>).</summary>
    public bool OperatorPauseRequested
    {
        get => Volatile.Read(ref _operatorPauseRequested);
        set => Volatile.Write(ref _operatorPauseRequested, value);
    }

    /// <summary>Gets or sets librdkafka's last known end offset of the partition (-1 when unknown); written by the poll thread, read by metrics.</summary>
    public long HighWatermark
    {
        get => Volatile.Read(ref _highWatermark);
        set => Volatile.Write(ref _highWatermark, value);
    }

    /// <summary>Counts the records whose handler runs now and finds when the oldest of them started (a timestamp; 0 when none runs).</summary>
    public (int Running, long OldestStart) RunningHandlers()
    {
        lock (_gate)
        {
            var (running, oldest) = (0, 0L);
            foreach (var lane in _activeLanes)
            {
                if (lane.HandlerStartedAt is var started and not 0)
                {
                    running++;
                    oldest = oldest == 0 || started < oldest ? started : oldest;
                }
            }

            return (running, oldest);
        }
    }

    /// <summary>Remembers records a previous owner finished beyond the committed offset (read from the commit metadata).</summary>
    public void SkipFinished(IEnumerable<long> offsets)
    {
        lock (_gate)
        {
            _finishedByPreviousOwner = [.. offsets];
        }
    }

    /// <summary>
    /// Gets the offset the partition's commits cannot pass now: its lowest unfinished record, or lower, where parked keys
    /// left out of the commit metadata pin it (<see cref="Failures.Internal.Retry.ParkedKeys.PinnedAt"/>); null when neither.
    /// </summary>
    public long? CommitFloor => (Offsets.LowestUnfinished, Parked.PinnedAt) switch
    {
        ({ } lowest, { } pin) => Math.Min(lowest, pin),
        (var lowest, var pin) => lowest ?? pin,
    };

    /// <summary>Whether a record at <paramref name="offset"/> would finish too far beyond the watermark (or a pinned commit) for the metadata bound.</summary>
    public bool BeyondGapBound(long offset) => CommitFloor is { } lowest && offset - lowest >= OffsetGapCodec.MaxSpan;

    /// <summary>Counts records of this partition that finished or were dropped.</summary>
    public void Release(int records) => Interlocked.Add(ref _buffered, -records);

    /// <summary>Registers a record with the offset tracker and queues it in its lane.</summary>
    public EnqueueResult Enqueue(ConsumeResult<byte[]?, byte[]?> record, out Lane? laneToStart)
    {
        laneToStart = null;
        lock (_gate)
        {
            var offset = record.Offset.Value;
            if (_stopped || _failure is not null || !Offsets.Register(offset))
            {
                return EnqueueResult.Rejected;
            }

            NextPosition = new TopicPartitionOffset(TopicPartition, new Offset(offset + 1), record.LeaderEpoch);
            if (_finishedByPreviousOwner is { } finished && finished.Remove(offset))
            {
                Offsets.Complete(offset);
                return EnqueueResult.Skipped;
            }

            var lane = LaneFor(record.Message.Key);
            lane.Records.Enqueue(record);
            Interlocked.Increment(ref _buffered);
            if (lane.Running)
            {
                return EnqueueResult.Queued;
            }

            lane.Running = true;
            _activeLanes.Add(lane);
            if (_runningLanes++ == 0)
            {
                _idle.Reset();
            }

            laneToStart = lane;
            return EnqueueResult.StartLane;
        }
    }

    /// <summary>
    /// Takes the next record of a lane. Returns false when the lane ends: it is empty, or the partition stopped or
    /// failed, in which case its queued records are dropped (<paramref name="dropped"/> says how many; they stay
    /// unfinished, so they are never committed).
    /// </summary>
    public bool TryDequeue(Lane lane, out ConsumeResult<byte[]?, byte[]?> record, out int dropped)
    {
        lock (_gate)
        {
            dropped = 0;
            if ((!_stopped || _finishQueued) && _failure is null && lane.Records.TryDequeue(out var next))
            {
                record = next;
                return true;
            }

            dropped = lane.Records.Count;
            lane.Records.Clear();
            lane.Running = false;
            _activeLanes.Remove(lane);
            if (lane.Key is { } key && _keyLanes.TryGetValue(key, out var current) && ReferenceEquals(current, lane))
            {
                _keyLanes.Remove(key); // idle and empty: the next record of this key gets a new lane
            }

            if (--_runningLanes == 0)
            {
                _idle.Set();
            }

            record = null!;
            return false;
        }
    }

    /// <summary>Marks the partition failed at a record; its lanes drop the records queued behind running ones.</summary>
    public void Fail(Exception error) => _failure = error;

    /// <summary>
    /// Stops the partition: it takes no new records; running handlers may finish. Queued records are dropped
    /// (they stay unfinished, for the next owner), unless <paramref name="finishQueued"/> (AtMostOnce, where they
    /// were committed already and nobody else would handle them): then they still run.
    /// </summary>
    public void Stop(bool finishQueued = false)
    {
        bool dropsQueued;
        lock (_gate)
        {
            _finishQueued = !_stopped && finishQueued;
            _stopped = true;
            dropsQueued = !_finishQueued;
        }

        if (dropsQueued)
        {
            _stopping.Cancel();
        }
    }

    /// <summary>Waits until no handler of this partition runs.</summary>
    public bool WaitIdle(TimeSpan timeout) => _idle.Wait(timeout);

    private Lane LaneFor(byte[]? key)
    {
        switch (mode)
        {
            case OrderingMode.None:
                return new Lane(this, null, runLane);
            case OrderingMode.Key when key is not null:
                if (!_keyLanes.TryGetValue(key, out var lane))
                {
                    lane = new Lane(this, key, runLane);
                    _keyLanes.Add(key, lane);
                }

                return lane;
            default:
                return _partitionLane ??= new Lane(this, null, runLane);
        }
    }
}

/// <summary>Why a partition takes no records for now.</summary>
[Flags]
internal enum HoldReasons
{
    /// <summary>Takes records.</summary>
    None = 0,

    /// <summary>Records finished beyond its watermark would not fit the commit metadata.</summary>
    Gap = 1,

    /// <summary>With slow handlers, it holds its fair share of the buffer; released when down to half of that.</summary>
    Share = 2,

    /// <summary>The consumer's buffer is full; released when there is room for half a share again.</summary>
    Buffer = 4,

    /// <summary>Its next record is not due yet (<see cref="IRecordGate"/>); released at <see cref="PartitionState.DueAt"/>.</summary>
    NotDue = 8,

    /// <summary>Its committed metadata (which keys are parked) could not be read yet; it is read again about every second.</summary>
    Unread = 16,

    /// <summary>An operator paused it (<see cref="IReliableKafkaMonitor.PausePartition"/>, the dashboard); released when they resume it.</summary>
    Operator = 32,
}
