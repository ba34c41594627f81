using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Deduplication.Internal;
using ReliableKafka.Diagnostics.Internal;
using ReliableKafka.Failures.Internal;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// Runs one consumer, in parts (docs/ARCHITECTURE.md draws how a record flows through them): the <see cref="PollLoop"/>
/// is the only thread that touches the Confluent consumer; <see cref="Admission"/> decides which fetched records are
/// taken (backpressure, holds) and <see cref="PauseReconciler"/> pauses and resumes partitions accordingly; the
/// <see cref="Dispatcher"/> queues records in their lanes, which the <see cref="RecordPipeline"/> runs on the thread
/// pool (deserialize, deduplication claim, handler with retries, then an <see cref="IFailurePolicy"/> for a record that
/// failed for good); the <see cref="ICommitter"/> commits each partition's committable offset; the
/// <see cref="Rebalancer"/> handles assignments and revocations and <see cref="GracefulStop"/> the end.
/// </summary>
/// <remarks>
/// Under AtLeastOnce a record's offset is committable only once its handler returned (after in-place retries)
/// or its failure policy let it go (dead-lettered and acknowledged, or skipped), and never past a record that
/// has not. Under AtMostOnce a fetched batch's offsets are committed before any of its records is handed to a
/// handler, and a failure is logged, not retried.
/// </remarks>
internal sealed class ConsumerEngine
{
    private readonly EngineContext _context;
    private readonly EngineLifecycle _lifecycle = new();
    private readonly AssignedPartitions _partitions;
    private readonly Admission _admission;
    private readonly PauseReconciler _pauses;
    private readonly IFailurePolicy _failurePolicy;
    private readonly Deduplicator? _dedup;
    private readonly PollLoop _pollLoop;
    private readonly RecordPipeline _pipeline;
    private readonly Rebalancer _rebalancer;
    private Task? _run;

    /// <param name="config">The consumer's librdkafka settings.</param>
    /// <param name="options">The consumer's options.</param>
    /// <param name="handler">What runs for each record.</param>
    /// <param name="loggerFactory">Creates the engine's loggers.</param>
    /// <param name="time">The clock for commit intervals and timeouts.</param>
    /// <param name="consumerBuilder">
    /// Creates the builder of the Confluent consumer from the settings; tests pass a builder whose Build returns a
    /// scripted consumer (Confluent's builder exposes the configured handlers to subclasses for this purpose).
    /// </param>
    /// <param name="offsetStore">Commits and reads offsets with metadata (librdkafka's, unless a test passes one).</param>
    /// <param name="deadLetters">Writes failed records to the dead-letter topic; required for <see cref="FailurePolicy.DeadLetter"/> under AtLeastOnce.</param>
    /// <param name="deduplicator">Claims and completes records in a deduplication store (the idempotent consumer); null when off. Not under AtMostOnce.</param>
    /// <param name="gate">Holds records until they are due (the delay tiers' forwarder); null when every record may be taken at once.</param>
    /// <param name="retryLevels">The retry topics of <see cref="FailurePolicy.RetryTopic"/> (subscribed too, and held until due); null for other policies.</param>
    /// <param name="parking">Releases keys parked by <see cref="FailurePolicy.RetryTopic"/> (started and disposed with the engine); null when keys do not park.</param>
    /// <param name="metrics">The instruments to record on (the container's); null for <see cref="ReliableKafkaMetrics.Shared"/>.</param>
    public ConsumerEngine(
        KafkaClientConfig config,
        ConsumerOptions options,
        IRecordHandler handler,
        ILoggerFactory loggerFactory,
        TimeProvider time,
        Func<IEnumerable<KeyValuePair<string, string>>, ConsumerBuilder<byte[]?, byte[]?>>? consumerBuilder = null,
        IGroupOffsetStore? offsetStore = null,
        IDeadLetterWriter? deadLetters = null,
        Deduplicator? deduplicator = null,
        IRecordGate? gate = null,
        Failures.Internal.Retry.RetryLevels? retryLevels = null,
        Failures.Internal.Retry.ParkingLog? parking = null,
        ReliableKafkaMetrics? metrics = null)
    {
        _context = new EngineContext(config, options, loggerFactory, time, gate, retryLevels, parking, metrics);
        if (_context.AtMostOnce && deduplicator is not null)
        {
            throw new ArgumentException("AtMostOnce consumers do not deduplicate: their records are committed before they are handled.", nameof(deduplicator));
        }

        _dedup = deduplicator;
        offsetStore ??= NativeGroupOffsetStore.Instance;
        var errors = new ClientErrors(_context, _lifecycle);
        _partitions = new AssignedPartitions(_context);
        _pauses = new PauseReconciler(_context, _partitions, errors.Report);
        _admission = new Admission(_context, _partitions, _pauses);
        _failurePolicy = FailurePolicies.Create(_context, deadLetters, deduplicator, _pauses, _lifecycle);
        var committer = new GroupCommitter(_context, _partitions, offsetStore);
        var dispatcher = new Dispatcher(_context, _partitions, _admission, _pauses, committer);
        var pipeline = _pipeline = new RecordPipeline(_context, handler, deduplicator, _admission, _failurePolicy, _failurePolicy as IRecordRouting);
        var stop = new GracefulStop(_context, _partitions, committer, _lifecycle, dispatcher);
        var rebalancer = _rebalancer = new Rebalancer(_context, _partitions, _pauses, committer, offsetStore, _lifecycle, stop, dispatcher, pipeline.RunLane);
        _pollLoop = new PollLoop(
            _context,
            _lifecycle,
            errors,
            _partitions,
            _admission,
            _pauses,
            dispatcher,
            committer,
            stop,
            consumerBuilder ?? (settings => new ConsumerBuilder<byte[]?, byte[]?>(settings)),
            rebalancer,
            onExit: () =>
            {
                _context.Parking?.Dispose();
                deadLetters?.Dispose();
            });
    }

    /// <summary>Gets the consumer's name.</summary>
    public string Name => _context.Name;

    /// <summary>Gets the consumer group.</summary>
    public string GroupId => _context.GroupId;

    /// <summary>Gets the topics it subscribes to (its retry topics included).</summary>
    public IReadOnlyList<string> Topics => _context.Subscription;

    /// <summary>Gets its instruments, with the counts since it started.</summary>
    public ConsumerInstruments Metrics => _context.Metrics;

    /// <summary>Gets how many failed records are waiting for a dead-letter write that failed to be retried (0 when healthy).</summary>
    public int DeadLetterWritesFailing => _failurePolicy.RecordsWaiting;

    /// <summary>Gets how many records wait for an asynchronous deserializer that keeps failing (0 when healthy).</summary>
    public int DeserializerFailing => _pipeline.DeserializerFailing;

    /// <summary>Gets how many records wait for the deduplication store to work again (0 when healthy or without a store).</summary>
    public int DeduplicationStoreFailing => _dedup?.Failing ?? 0;

    /// <summary>Gets how many handled records found their deduplication claim taken over by another owner (possible duplicates).</summary>
    public long PossibleDuplicates => _dedup?.PossibleDuplicates ?? 0;

    /// <summary>Gets the partitions of this member that a failed record stopped (<see cref="FailurePolicy.PausePartition"/>), with the failure.</summary>
    public IReadOnlyDictionary<TopicPartition, Exception> FailedPartitions =>
        _partitions.Published.Where(s => s.Failure is not null).ToDictionary(s => s.TopicPartition, s => s.Failure!);

    /// <summary>Gets what the consumer is doing now: its partitions with their offsets, buffered and running records, and what it parked.</summary>
    public ConsumerStatus Status()
    {
        var time = _context.Time;
        var now = time.GetTimestamp();
        var partitions = new List<PartitionSnapshot>();
        var oldest = 0L;
        var (keys, records) = (0, 0);
        foreach (var state in _partitions.Published)
        {
            var (watermark, finishedBeyond) = state.Offsets.Progress();
            var (running, oldestStart) = state.RunningHandlers();
            if (oldestStart != 0 && (oldest == 0 || oldestStart < oldest))
            {
                oldest = oldestStart;
            }

            keys += state.Parked.Count;
            records += state.Parked.Count == 0 ? 0 : state.Parked.Behind;
            // librdkafka's end offset is refreshed about once a second; records taken since lie below the end too.
            var high = Math.Max(state.HighWatermark, Math.Max(watermark ?? -1, state.NextPosition?.Offset.Value ?? -1));
            var committed = state.CommittedOffset;
            partitions.Add(new PartitionSnapshot
            {
                Topic = state.TopicPartition.Topic,
                Partition = state.TopicPartition.Partition.Value,
                CommittedOffset = committed >= 0 ? committed : null,
                Watermark = watermark,
                FinishedBeyondWatermark = finishedBeyond,
                HighWatermark = high >= 0 ? high : null,
                Lag = high >= 0 && committed >= 0 ? Math.Max(high - committed, 0) : null,
                Buffered = state.Buffered,
                Running = running,
                Paused = state.PausedInClient == true || state.Failed,
                Failure = state.Failure?.Message,
                PausedByOperator = state.OperatorPauseRequested,
            });
        }

        return new ConsumerStatus(partitions, _admission.Buffered, oldest == 0 ? null : time.GetElapsedTime(oldest, now), keys, records);
    }

    /// <summary>
    /// Pauses or resumes a partition for an operator (the dashboard, <see cref="IReliableKafkaMonitor.PausePartition"/>):
    /// records stop being taken (those taken run to their end) until it is resumed or the partition leaves this member.
    /// Returns false when this member does not own the partition.
    /// </summary>
    public bool SetPaused(TopicPartition partition, bool paused)
    {
        if (_partitions.Published.FirstOrDefault(s => s.TopicPartition == partition) is not { } state)
        {
            return false;
        }

        return _admission.RequestOperatorPause(state, paused);
    }

    /// <summary>Gets the partitions an operator paused on this member.</summary>
    public IReadOnlyList<TopicPartition> OperatorPaused => [.. _partitions.Published.Where(s => s.OperatorPauseRequested).Select(s => s.TopicPartition)];

    /// <summary>Gets the consumer's retry topics (<see cref="FailurePolicy.RetryTopic"/>), or null.</summary>
    public Failures.Internal.Retry.RetryLevels? RetryLevels => _context.Retries;

    /// <summary>Gets a value indicating whether keys park (<see cref="KeyOrderOnFailure.Park"/>).</summary>
    public bool Parks => _context.Parking is not null;

    /// <summary>Gets since when the parking topic cannot be read (parked keys wait to be released), or null.</summary>
    public DateTimeOffset? ParkingFailingSince => _context.Parking?.FailingSince;

    /// <summary>Gets since when assigned partitions wait, taking no records, for their committed metadata to be read (parked keys), or null.</summary>
    public DateTimeOffset? CommittedUnreadSince => _rebalancer.UnreadSince;

    /// <summary>Gets the assigned partitions that fetch nothing while records wait (see <see cref="StallThreshold"/>), with when they stopped.</summary>
    public IReadOnlyDictionary<TopicPartition, DateTimeOffset> StalledPartitions =>
        _partitions.Published.Where(s => s.StalledSince is not null).ToDictionary(s => s.TopicPartition, s => s.StalledSince!.Value);

    /// <summary>
    /// Gets, per topic, how many records of this member's partitions lie beyond their positions (librdkafka's last known
    /// end offsets, refreshed about once a second); partitions not known yet are left out.
    /// </summary>
    public IReadOnlyDictionary<string, long> BacklogByTopic() =>
        _partitions.Published.Select(s => (s.TopicPartition.Topic, s.Backlog)).Where(b => b.Backlog >= 0)
            .GroupBy(b => b.Topic, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Sum(b => b.Backlog), StringComparer.Ordinal);

    /// <summary>Gets the partitions currently assigned to this member (a snapshot).</summary>
    public IReadOnlyList<TopicPartition> Assignment => [.. _partitions.Published.Select(s => s.TopicPartition)];

    /// <summary>Gets since when no record has finished although records wait (queued or running), or null when none waits.</summary>
    public DateTimeOffset? NoProgressSince
    {
        get
        {
            if (_admission.Buffered == 0)
            {
                return null;
            }

            var since = _admission.ProgressAt; // read after the count (see Admission.TryAdmit)

            var time = _context.Time;
            return time.GetUtcNow() - time.GetElapsedTime(since);
        }
    }

    /// <summary>Gets since when the handler that has been running longest runs, or null when none runs.</summary>
    public DateTimeOffset? OldestRunningSince => Status().OldestRunning is { } age ? _context.Time.GetUtcNow() - age : null;

    /// <summary>Gets the number of fetched records that have not finished (queued or running).</summary>
    public int BufferedRecords => _admission.Buffered;

    /// <summary>Gets the run: completes (or faults) when the consumer stopped; null before it started.</summary>
    public Task? Run => _run;

    /// <summary>
    /// Gets how long polling holds off for the handlers when the buffer is full before it pauses partitions
    /// (250 ms). Tests shorten it to drive the paused path with fast handlers.
    /// </summary>
    internal TimeSpan BackpressureHold
    {
        get => _admission.BackpressureHold;
        init => _admission.BackpressureHold = value;
    }

    /// <summary>
    /// Gets how long a partition the engine neither holds nor pauses may fetch nothing while records wait before it
    /// counts as stalled (30 s). Tests shorten it.
    /// </summary>
    internal TimeSpan StallThreshold
    {
        get => _pauses.StallThreshold;
        init => _pauses.StallThreshold = value;
    }

    /// <summary>Starts the poll thread; the task completes when the consumer stopped (gracefully when <paramref name="stoppingToken"/> fires).</summary>
    public Task RunAsync(CancellationToken stoppingToken)
    {
        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tracking = _context.Metrics.Track(Status);
        _context.Parking?.Start();
        var thread = new Thread(() =>
        {
            using var tracked = tracking;
            try
            {
                try
                {
                    _pollLoop.Run(stoppingToken);
                }
                finally
                {
                    // Also when the Confluent consumer could not even be built (the poll loop's own exit does it otherwise).
                    _context.Parking?.Dispose();
                }

                if (_lifecycle.StopRequest is { } failure)
                {
                    completion.SetException(failure);
                }
                else
                {
                    completion.SetResult();
                }
            }
            catch (Exception e)
            {
                completion.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = $"ReliableKafka consumer {Name}",
        };
        _run = completion.Task;
        thread.Start();
        return completion.Task;
    }

    /// <summary>
    /// Simulates a crash, for tests: the poll loop ends without committing and without leaving the group
    /// (the Confluent consumer is disposed without Close), and running handlers are cancelled. The group
    /// notices only when the session times out, like after a killed process.
    /// </summary>
    public Task CrashAsync()
    {
        _lifecycle.RequestCrash();
        return _run ?? Task.CompletedTask;
    }
}
