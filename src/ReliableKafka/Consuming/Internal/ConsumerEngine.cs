using System.Collections.Concurrent;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Deduplication.Internal;
using Polly;
using ReliableKafka.Diagnostics.Internal;
using ReliableKafka.Failures.Internal;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// Runs one consumer. A dedicated poll thread is the only thread that touches the Confluent consumer
/// (Consume, Pause/Resume, Commit, Close). It dispatches each record to its partition's lane; lanes run on the
/// thread pool, one handler at a time per partition, at most <see cref="ConsumerOptions.MaxConcurrency"/> at
/// once. A finished record is marked in its partition's offset tracker; the poll thread commits each
/// partition's committable offset on the commit interval, on revocation and on shutdown.
/// </summary>
/// <remarks>
/// Under AtLeastOnce a record's offset is committable only once its handler returned (after in-place retries)
/// or its failure policy let it go (dead-lettered and acknowledged, or skipped), and never past a record that
/// has not. Under AtMostOnce a fetched batch's offsets are committed before any of its records is handed to a
/// handler, and a failure is logged, not retried.
/// <para>
/// Not disposable on purpose: a handler abandoned after a timeout may still release its concurrency slot after
/// the engine stopped, and the semaphore holds no unmanaged resource (its wait handle is never requested).
/// </para>
/// </remarks>
#pragma warning disable CA1001 // See remarks.
internal sealed class ConsumerEngine
#pragma warning restore CA1001
{
    private static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(100);

    // How often the poll thread looks for partitions that stopped fetching (WatchForStalls).
    private static readonly TimeSpan StallCheckInterval = TimeSpan.FromSeconds(1);

    // While fetching is paused, poll often so that it resumes soon after the buffer drains.
    private static readonly TimeSpan BackpressurePollTimeout = TimeSpan.FromMilliseconds(5);

    // When the buffer fills, polling first holds off this long for the lanes to drain before partitions are
    // paused: pausing makes librdkafka drop what it fetched ahead, which then has to be fetched again.
    private static readonly TimeSpan DefaultBackpressureHold = TimeSpan.FromMilliseconds(250);
    private const int AtMostOnceBatchLimit = 500;

    // Records taken from librdkafka's already-fetched queue in one go before the lanes they went to are started.
    private const int DispatchBatchLimit = 256;

    // How long one commit may wait for its result before it counts as failed (and is tried again later).
    private static readonly TimeSpan CommitTimeout = TimeSpan.FromSeconds(10);

    // A graceful stop takes ShutdownTimeout in all, but never less than this: the final commit and leaving the group
    // need a moment even when handlers are not waited for.
    private static readonly TimeSpan MinimumStop = TimeSpan.FromSeconds(1);

    // Of the stop's budget, the final commit and leaving the group keep this share (at most MaxStopReserve); handlers
    // get the rest.
    private const int StopReserveDivisor = 4;
    private static readonly TimeSpan MaxStopReserve = TimeSpan.FromSeconds(5);

    // Inside a rebalance callback, commit retries stop after this long (see OnRevoked).
    private static readonly TimeSpan MaxCallbackCommitRetry = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan MaxCommitBackoff = TimeSpan.FromMilliseconds(500);

    // How long leaving the group may take after a failure before the client is left behind.
    private static readonly TimeSpan FailureCloseTimeout = TimeSpan.FromSeconds(10);

    // How long reading the previous owner's commit metadata may take when partitions are assigned.
    private static readonly TimeSpan CommittedReadTimeout = TimeSpan.FromSeconds(10);

    // A failed dead-letter write, or a record waiting for its deduplication store, is tried again after this
    // pause, doubling up to the maximum.
    private static readonly TimeSpan FirstRetryPause = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxRetryPause = TimeSpan.FromSeconds(30);

    private readonly KafkaClientConfig _config;
    private readonly ConsumerOptions _options;
    private readonly IRecordHandler _handler;
    private readonly Func<IEnumerable<KeyValuePair<string, string>>, ConsumerBuilder<byte[]?, byte[]?>> _consumerBuilder;
    private readonly IGroupOffsetStore _offsetStore;
    private readonly ResiliencePipeline _retry;
    private readonly IDeadLetterWriter? _deadLetters;
    private readonly Deduplicator? _dedup;
    private readonly Action<Lane> _runLane;
    private readonly List<PartitionState> _held = [];
    private readonly ILogger _logger;
    private readonly ILogger _librdkafkaLogger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _concurrency;
    private readonly Dictionary<TopicPartition, PartitionState> _partitions = [];
    private readonly ConcurrentQueue<PartitionState> _failures = new();
    private readonly List<Lane> _lanesToStart = [];
    private readonly ManualResetEventSlim _drained = new(initialState: false);
    private readonly int _lowMark;
    private volatile bool _holding;
    private readonly bool _atMostOnce;
    private int _buffered;
    private PartitionState[] _assigned = [];
    private bool _slowHandlers;
    private bool _pausesDirty;
    private long _lastCommit;

    // The interval commit in flight, with the partitions it was taken from (poll thread only).
    private (IPendingCommit Commit, List<(PartitionState State, OffsetCommit Commit)> Parts, long Sent)? _intervalCommit;
    private bool _intervalCommitOverdue;

    // Interval commits overtaken by a commit that waited for its result, still outstanding (poll thread only).
    private readonly List<(IPendingCommit Commit, List<(PartitionState State, OffsetCommit Commit)> Parts, long Sent)> _abandonedCommits = [];
    private long _lastStallCheck;

    // The longest commit metadata the brokers accept, as far as this member knows (poll thread only).
    private int _metadataLimit = OffsetGapCodec.MaxLength;
    private bool _metadataLimited;
    private volatile Error? _fatalError;
    private volatile bool _crashRequested;
    private volatile Exception? _stopRequest;
    private Exception? _failure;
    private volatile bool _failed;
    private long _stopStarted;
    private TimeSpan _stopBudget;
    private TimeSpan _closeReserve;
    private int _deadLetterWritesFailing;
    private bool _stopping;
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
    public ConsumerEngine(
        KafkaClientConfig config,
        ConsumerOptions options,
        IRecordHandler handler,
        ILoggerFactory loggerFactory,
        TimeProvider time,
        Func<IEnumerable<KeyValuePair<string, string>>, ConsumerBuilder<byte[]?, byte[]?>>? consumerBuilder = null,
        IGroupOffsetStore? offsetStore = null,
        IDeadLetterWriter? deadLetters = null,
        Deduplicator? deduplicator = null)
    {
        _atMostOnce = config.Guarantee == DeliveryGuarantee.AtMostOnce;
        if (_atMostOnce && deduplicator is not null)
        {
            throw new ArgumentException("AtMostOnce consumers do not deduplicate: their records are committed before they are handled.", nameof(deduplicator));
        }

        _dedup = deduplicator;
        if (!_atMostOnce && options.FailurePolicy == FailurePolicy.DeadLetter && deadLetters is null)
        {
            throw new ArgumentNullException(nameof(deadLetters), "FailurePolicy.DeadLetter needs a dead-letter writer.");
        }

        _deadLetters = deadLetters;
        _retry = _atMostOnce ? ResiliencePipeline.Empty : RetryPipelines.Build(options.Retry, time);
        _offsetStore = offsetStore ?? NativeGroupOffsetStore.Instance;
        _runLane = lane => _ = RunLaneAsync(lane);
        _consumerBuilder = consumerBuilder ?? (settings => new ConsumerBuilder<byte[]?, byte[]?>(settings));
        _config = config;
        _options = options;
        _handler = handler;
        _logger = loggerFactory.CreateLogger(Log.ConsumerCategory);
        _librdkafkaLogger = loggerFactory.CreateLogger(Log.LibrdkafkaCategory);
        _time = time;
        _concurrency = new SemaphoreSlim(options.MaxConcurrency, options.MaxConcurrency);
        _lowMark = options.MaxBufferedRecords / 2;
    }

    /// <summary>Gets the consumer's name.</summary>
    public string Name => _config.Name;

    /// <summary>Gets how many failed records are waiting for a dead-letter write that failed to be retried (0 when healthy).</summary>
    public int DeadLetterWritesFailing => Volatile.Read(ref _deadLetterWritesFailing);

    /// <summary>Gets how many records wait for the deduplication store to work again (0 when healthy or without a store).</summary>
    public int DeduplicationStoreFailing => _dedup?.Failing ?? 0;

    /// <summary>Gets how many handled records found their deduplication claim taken over by another owner (possible duplicates).</summary>
    public long PossibleDuplicates => _dedup?.PossibleDuplicates ?? 0;

    /// <summary>Gets the partitions of this member that a failed record stopped (<see cref="FailurePolicy.PausePartition"/>), with the failure.</summary>
    public IReadOnlyDictionary<TopicPartition, Exception> FailedPartitions =>
        Volatile.Read(ref _assigned).Where(s => s.Failure is not null).ToDictionary(s => s.TopicPartition, s => s.Failure!);

    /// <summary>Gets the run: completes (or faults) when the consumer stopped; null before it started.</summary>
    public Task? Run => _run;

    /// <summary>
    /// Gets how long polling holds off for the handlers when the buffer is full before it pauses partitions
    /// (250 ms). Tests shorten it to drive the paused path with fast handlers.
    /// </summary>
    internal TimeSpan BackpressureHold { get; init; } = DefaultBackpressureHold;

    /// <summary>
    /// Gets how long a partition the engine neither holds nor pauses may fetch nothing while records wait before it
    /// counts as stalled (30 s). Tests shorten it.
    /// </summary>
    internal TimeSpan StallThreshold { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets the assigned partitions that fetch nothing while records wait (see <see cref="StallThreshold"/>), with when they stopped.</summary>
    public IReadOnlyDictionary<TopicPartition, DateTimeOffset> StalledPartitions =>
        Volatile.Read(ref _assigned).Where(s => s.StalledSince is not null).ToDictionary(s => s.TopicPartition, s => s.StalledSince!.Value);

    /// <summary>Gets the partitions currently assigned to this member (a snapshot).</summary>
    public IReadOnlyList<TopicPartition> Assignment => [.. Volatile.Read(ref _assigned).Select(s => s.TopicPartition)];

    /// <summary>Gets the number of fetched records that have not finished (queued or running).</summary>
    public int BufferedRecords => Volatile.Read(ref _buffered);

    /// <summary>Starts the poll thread; the task completes when the consumer stopped (gracefully when <paramref name="stoppingToken"/> fires).</summary>
    public Task RunAsync(CancellationToken stoppingToken)
    {
        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                PollLoop(stoppingToken);
                if (_stopRequest is { } failure)
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
        _crashRequested = true;
        return _run ?? Task.CompletedTask;
    }

    private void PollLoop(CancellationToken stoppingToken)
    {
        Log.ConsumerStarting(_logger, _config, _options);
        var consumer = _consumerBuilder(_config.Values)
            .SetErrorHandler((_, error) => OnError(error))
            .SetLogHandler((_, message) => Log.Librdkafka(_librdkafkaLogger, message))
            .SetPartitionsAssignedHandler((c, partitions) => InCallback("assigning partitions", () => OnAssigned(c, partitions)))
            .SetPartitionsRevokedHandler((c, partitions) => InCallback("revoking partitions", () => OnRevoked(c, partitions)))
            .SetPartitionsLostHandler((_, partitions) => InCallback("losing partitions", () => OnLost(partitions)))
            .Build();
        var leftBehind = false;
        try
        {
            consumer.Subscribe(_options.Topics);
            _lastCommit = _time.GetTimestamp();
            while (!stoppingToken.IsCancellationRequested && !_crashRequested && _stopRequest is null)
            {
                ThrowIfFailed();
                Poll(consumer);
            }

            ThrowIfFailed();
            if (_crashRequested)
            {
                Log.ConsumerCrashed(_logger, Name);
                return;
            }

            leftBehind = !ShutDown(consumer);
        }
        catch (Exception e)
        {
            // Loud and final: whatever escaped the poll loop or a rebalance callback stops the consumer; it never
            // stays assigned and idle. Nothing more is committed; the records not committed are handled again by
            // the partitions' next owner.
            var recorded = Volatile.Read(ref _failure);
            var failure = recorded ?? e;
            if (!ReferenceEquals(failure, recorded))
            {
                Log.ConsumerFailed(_logger, Name, failure); // a callback's failure was logged when it happened
            }
            AbandonAll();
            leftBehind = !LeaveAfterFailure(consumer);
            if (!ReferenceEquals(failure, e))
            {
                throw new ConsumerStoppedException($"Consumer {Name} failed and stopped: {failure.Message}", failure);
            }

            throw;
        }
        finally
        {
            // A close left behind may still run the revocation callback: the engine's state is then its alone (every
            // partition was stopped and its handlers cancelled before the close began).
            if (!leftBehind)
            {
                AbandonAll();
                _intervalCommit?.Commit.Dispose(); // before the consumer: they hold a reference on the client
                _intervalCommit = null;
                _abandonedCommits.ForEach(c => c.Commit.Dispose());
                _abandonedCommits.Clear();
                consumer.Dispose(); // without Close after a crash; after a failure or a stop, Close ran first
            }

            _deadLetters?.Dispose();
        }
    }

    /// <summary>
    /// Runs a rebalance callback. An exception must not reach Confluent.Kafka: it would leave librdkafka waiting
    /// for an assignment that never comes (and its destroy waiting without end). It is recorded instead; the poll
    /// loop then stops the consumer (<see cref="ThrowIfFailed"/>), and no partition is handled meanwhile.
    /// </summary>
    private void InCallback(string what, Action callback)
    {
        try
        {
            callback();
        }
        catch (Exception e)
        {
            var failure = new InvalidOperationException($"Consumer {Name} failed while {what}: {e.Message}", e);
            if (Interlocked.CompareExchange(ref _failure, failure, null) is null)
            {
                // Logged here: a callback that fails while the consumer stops (inside Close) is never seen by the poll loop.
                Log.ConsumerFailed(_logger, Name, failure);
            }

            AbandonAll();
        }
    }

    /// <summary>Stops every partition and cancels its running handlers (their records stay uncommitted).</summary>
    private void AbandonAll()
    {
        foreach (var state in _partitions.Values)
        {
            state.Stop();
            state.Cancellation.Cancel();
        }

        _partitions.Clear();
        PublishAssignment();
    }

    /// <summary>
    /// After a failure, leaves the group (so that the partitions move to other members at once, instead of after the
    /// session timeout) without committing anything, for at most <see cref="FailureCloseTimeout"/>; returns false when
    /// the client was left behind.
    /// </summary>
    private bool LeaveAfterFailure(IConsumer<byte[]?, byte[]?> consumer)
    {
        _failed = true;
        return Close(consumer, FailureCloseTimeout);
    }

    private void Poll(IConsumer<byte[]?, byte[]?> consumer)
    {
        TakeFailures();
        ReleaseHolds();
        UpdateBackpressure();
        ReconcilePauses(consumer);
        WatchForStalls(consumer);

        try
        {
            var result = consumer.Consume(_held.Count > 0 ? BackpressurePollTimeout : PollTimeout);
            if (result is { IsPartitionEOF: false })
            {
                if (_atMostOnce)
                {
                    DispatchAtMostOnce(consumer, result);
                }
                else
                {
                    // Take what librdkafka has fetched already (no waiting), so that a lane's worker starts with
                    // several records instead of being woken for each one.
                    Dispatch(result);
                    for (var taken = 1; taken < DispatchBatchLimit && Volatile.Read(ref _buffered) < _options.MaxBufferedRecords; taken++)
                    {
                        if (consumer.Consume(TimeSpan.Zero) is not { } next)
                        {
                            break;
                        }

                        if (!next.IsPartitionEOF)
                        {
                            Dispatch(next);
                        }
                    }
                }
            }
        }
        catch (ConsumeException e)
        {
            OnError(e.Error);
        }
        finally
        {
            StartPendingLanes();
        }

        if (_time.GetElapsedTime(_lastCommit) >= _options.CommitInterval)
        {
            CommitOnInterval(consumer);
            _lastCommit = _time.GetTimestamp();
        }
        else
        {
            CollectIntervalCommit(abandon: false);
        }
    }

    private bool Dispatch(ConsumeResult<byte[]?, byte[]?> record) =>
        TryAdmit(record) is { } state && Enqueue(state, record);

    /// <summary>
    /// Decides whether the engine takes a fetched record now, and if so counts it in the buffer. A record refused
    /// here is not registered, and librdkafka has moved past it: the partition pauses and, once it may take
    /// records again, fetching restarts at the first record it refused.
    /// </summary>
    private PartitionState? TryAdmit(ConsumeResult<byte[]?, byte[]?> record)
    {
        if (!_partitions.TryGetValue(record.TopicPartition, out var state))
        {
            return null;
        }

        state.LastFetched = _time.GetTimestamp();

        if (state.Hold != HoldReasons.None || state.RefusedAt is not null)
        {
            state.Refuse(record);
            return null;
        }

        if (!_atMostOnce && state.BeyondGapBound(record.Offset.Value))
        {
            HoldPartition(state, HoldReasons.Gap);
            state.Refuse(record);
            Log.GapFull(_logger, Name, record.TopicPartition, record.Offset.Value, state.Offsets.LowestUnfinished ?? 0);
            return null;
        }

        // With slow handlers, no partition takes more than its share, so that a partition whose fetch arrives first
        // cannot take the room that frees up from the others.
        var share = FairShare;
        var full = Volatile.Read(ref _buffered) >= _options.MaxBufferedRecords;
        if (full || (_slowHandlers && state.Buffered >= share))
        {
            HoldPartition(state, state.Buffered >= share ? HoldReasons.Share : HoldReasons.Buffer);
            state.Refuse(record);
            return null;
        }

        Interlocked.Increment(ref _buffered);
        return state;
    }

    /// <summary>Registers an admitted record and queues it in its lane (started after the dispatch batch).</summary>
    private bool Enqueue(PartitionState state, ConsumeResult<byte[]?, byte[]?> record)
    {
        switch (state.Enqueue(record, out var lane))
        {
            case PartitionState.EnqueueResult.Rejected:
                Release(1);
                return false;
            case PartitionState.EnqueueResult.Skipped:
                Release(1);
                return true;
            case PartitionState.EnqueueResult.StartLane:
                _lanesToStart.Add(lane!);
                break;
        }

        if (_atMostOnce)
        {
            // Committed before dispatch: the tracker only mirrors that.
            state.Offsets.Complete(record.Offset.Value);
        }

        return true;
    }

    /// <summary>Each partition's share of the buffer when it is full.</summary>
    private int FairShare => Math.Max(1, _options.MaxBufferedRecords / Math.Max(1, _partitions.Count));

    private void HoldPartition(PartitionState state, HoldReasons reason)
    {
        if (state.Hold == HoldReasons.None)
        {
            _held.Add(state);
        }

        state.Hold |= reason;
        _pausesDirty = true;
    }

    /// <summary>Lets held partitions take records again once the reason passed (they resume where they stopped).</summary>
    private void ReleaseHolds()
    {
        if (_held.Count == 0)
        {
            return;
        }

        // Room in a full buffer goes to the partitions that have waited longest (the list is in hold order; a
        // partition held again goes to its end), one share per partition, so that none is starved by others
        // whose fetches happen to arrive first.
        var share = FairShare;
        var room = _options.MaxBufferedRecords - Volatile.Read(ref _buffered);
        _held.RemoveAll(state =>
        {
            if (!_partitions.TryGetValue(state.TopicPartition, out var current) || !ReferenceEquals(current, state))
            {
                return true;
            }

            // The record fetching restarts at is the first refused one (a compaction gap may lie between it and the
            // position after the last record taken): the hold ends once that record fits the bound with room to spare.
            var next = state.RefusedAt?.Offset.Value ?? state.NextPosition?.Offset.Value ?? 0;
            if ((state.Hold & HoldReasons.Gap) != 0 && (state.Offsets.LowestUnfinished is not { } lowest || next - lowest < OffsetGapCodec.MaxSpan / 2))
            {
                state.Hold &= ~HoldReasons.Gap;
            }

            if ((state.Hold & HoldReasons.Share) != 0 && state.Buffered <= share / 2)
            {
                state.Hold &= ~HoldReasons.Share;
            }

            if (state.Hold == HoldReasons.Buffer && room >= Math.Max(1, share / 2))
            {
                state.Hold = HoldReasons.None;
                room -= share;
            }

            if (state.Hold != HoldReasons.None)
            {
                return false;
            }

            _pausesDirty = true;
            return true;
        });
    }

    /// <summary>
    /// Starts the lanes that records were queued to. Called after each dispatch batch and before anything that
    /// waits for lanes (rebalance callbacks, shutdown), which must never wait on a lane nobody started.
    /// </summary>
    private void StartPendingLanes()
    {
        foreach (var lane in _lanesToStart)
        {
            ThreadPool.UnsafeQueueUserWorkItem(lane, preferLocal: false);
        }

        _lanesToStart.Clear();
    }

    /// <summary>AtMostOnce: takes what is already fetched (up to a limit), commits past it, and only then dispatches it.</summary>
    private void DispatchAtMostOnce(IConsumer<byte[]?, byte[]?> consumer, ConsumeResult<byte[]?, byte[]?> first)
    {
        var batch = new List<ConsumeResult<byte[]?, byte[]?>> { first };
        while (batch.Count < AtMostOnceBatchLimit && consumer.Consume(TimeSpan.Zero) is { } next)
        {
            if (!next.IsPartitionEOF)
            {
                batch.Add(next);
            }
        }

        // Only records the engine takes are committed: a refused one is fetched again and committed then.
        var admitted = new List<(PartitionState State, ConsumeResult<byte[]?, byte[]?> Record)>(batch.Count);
        foreach (var record in batch)
        {
            if (_partitions.TryGetValue(record.TopicPartition, out var owner) && owner.Stopped)
            {
                continue; // being let go: not this member's to commit
            }

            if (TryAdmit(record) is { } state)
            {
                admitted.Add((state, record));
            }
        }

        var ranges = admitted
            .GroupBy(a => a.State)
            .Select(g => (State: g.Key, First: g.MinBy(a => a.Record.Offset.Value).Record, Next: Math.Max(g.Max(a => a.Record.Offset.Value) + 1, g.Key.LastCommitted?.Offset ?? 0)))
            .ToList();
        if (ranges.Count == 0)
        {
            return;
        }

        try
        {
            _offsetStore.Commit(consumer, [.. ranges.Select(r => new OffsetCommit(r.State.TopicPartition, r.Next, null, null))], CommitTimeout);
        }
        catch (KafkaException e)
        {
            // Nothing was taken: each partition fetches again from its first admitted record.
            Log.AtMostOnceCommitFailed(_logger, Name, e.Error.Reason);
            Release(admitted.Count);
            foreach (var range in ranges)
            {
                range.State.Refuse(range.First);
            }

            _pausesDirty = true;
            return;
        }

        foreach (var range in ranges)
        {
            range.State.LastCommitted = (range.Next, null);
        }

        foreach (var (state, record) in admitted)
        {
            Enqueue(state, record);
        }

        StartPendingLanes();
    }

    private async Task RunLaneAsync(Lane lane)
    {
        var state = lane.Partition;
        while (true)
        {
            if (!state.TryDequeue(lane, out var record, out var dropped))
            {
                if (dropped > 0)
                {
                    Release(state, dropped);
                }

                return;
            }

            await ProcessAsync(state, lane, record).ConfigureAwait(false);
        }
    }

    private async Task ProcessAsync(PartitionState state, Lane lane, ConsumeResult<byte[]?, byte[]?> record)
    {
        var token = state.Cancellation.Token;
        lane.Attempts = 0;
        try
        {
            object prepared;
            try
            {
                prepared = _handler.Prepare(record, token);
            }
            catch (MessageDeserializationException e)
            {
                // Poison: another attempt cannot read it either.
                await OnFailedAsync(state, record, e, attempts: 0, token).ConfigureAwait(false);
                return;
            }

            var run = new AttemptRun(this, state, lane, prepared, record.Offset.Value);
            if (_dedup is not null)
            {
                run = run with { Key = _dedup.KeyOf(_handler.SelectMessageId(prepared), record), Owner = _dedup.NewOwner() };
            }

            if (await RunAttemptsAsync(run, token).ConfigureAwait(false) && !_atMostOnce)
            {
                state.Offsets.Complete(record.Offset.Value);
            }
        }
        catch (Exception) when (token.IsCancellationRequested)
        {
            // Revoked, lost or shut down past the timeout: abandoned, left uncommitted for the next owner. Whatever
            // the handler threw once its work was abandoned (a disposed service, a cancelled call) is no verdict on
            // the record, so no failure policy applies.
        }
        catch (Exception e)
        {
            await OnFailedAsync(state, record, e, lane.Attempts, token).ConfigureAwait(false);
        }
        finally
        {
            Release(state, 1);
        }
    }

    /// <summary>
    /// Runs the record's attempts through the retry pipeline; false when the partition was let go meanwhile. A
    /// deduplication store failure is no attempt failure: the record waits, with growing pauses, and starts over.
    /// </summary>
    private async ValueTask<bool> RunAttemptsAsync(AttemptRun run, CancellationToken token)
    {
        var pause = FirstRetryPause;
        var failing = false;
        try
        {
            while (true)
            {
                try
                {
                    return await _retry.ExecuteAsync(
                        static (run, cancellationToken) => run.Engine.AttemptAsync(run, cancellationToken),
                        run,
                        token).ConfigureAwait(false);
                }
                catch (DeduplicationRetryException e) when (!token.IsCancellationRequested)
                {
                    if (e.StoreFailed)
                    {
                        _dedup!.Failed(ref failing, run.State.TopicPartition, run.Offset, pause, e);
                        await Task.Delay(pause, _time, token).ConfigureAwait(false);
                        pause = pause * 2 < MaxRetryPause ? pause * 2 : MaxRetryPause;
                    }
                }
            }
        }
        finally
        {
            _dedup?.Recovered(ref failing);
        }
    }

    /// <summary>
    /// One attempt: claims the record when deduplicating (true without running the handler when it was processed
    /// before), runs the handler holding a concurrency slot (not during backoff), then completes the claim, or
    /// releases it when the handler failed. False when the partition was let go meanwhile.
    /// </summary>
    private async ValueTask<bool> AttemptAsync(AttemptRun run, CancellationToken token)
    {
        var (state, lane) = (run.State, run.Lane);
        var dedup = _dedup;
        if (dedup is not null && !await dedup.ClaimAsync(run.Key, run.Owner, state.TopicPartition, run.Offset, token).ConfigureAwait(false))
        {
            return true;
        }

        dedup?.Hold(run.Key, run.Owner, state.TopicPartition, run.Offset);
        var handled = false;
        try
        {
            await _concurrency.WaitAsync(token).ConfigureAwait(false);
            try
            {
                if (state.DropsQueued)
                {
                    return false;
                }

                var attempt = ++lane.Attempts;
                try
                {
                    await _handler.HandleAsync(run.Prepared, attempt, dedup?.Transactional is { } store ? run.BeginTransaction(dedup, store, token) : null, token).ConfigureAwait(false);
                    handled = true;
                }
                catch (Exception e) when (!token.IsCancellationRequested && attempt < _options.Retry.MaxAttempts && RetryPipelines.IsRetriable(_options.Retry, e))
                {
                    // Logged and counted here, where the record is known; a custom pipeline reports its own retries.
                    Log.AttemptFailed(_logger, Name, state.TopicPartition, run.Offset, attempt, e);
                    ConsumerMetrics.Retry(Name, _options.GroupId!, state.TopicPartition);
                    throw;
                }
            }
            finally
            {
                _concurrency.Release();
            }
        }
        finally
        {
            if (dedup is not null && !handled)
            {
                dedup.Unhold(run.Owner);
                await dedup.ReleaseAsync(run.Key, run.Owner, state.TopicPartition, run.Offset).ConfigureAwait(false);
            }
        }

        if (dedup is { Transactional: null })
        {
            try
            {
                await dedup.CompleteAsync(run.Key, run.Owner, state.TopicPartition, run.Offset, token).ConfigureAwait(false);
            }
            finally
            {
                dedup.Unhold(run.Owner);
            }
        }
        else
        {
            dedup?.Unhold(run.Owner);
        }

        return true;
    }

    /// <summary>Applies the failure policy to a record that failed for good (under AtMostOnce: logs it).</summary>
    private async Task OnFailedAsync(PartitionState state, ConsumeResult<byte[]?, byte[]?> record, Exception error, int attempts, CancellationToken token)
    {
        if (_atMostOnce)
        {
            Log.HandlerFailedAtMostOnce(_logger, Name, record.Topic, record.Partition.Value, record.Offset.Value, error);
            return;
        }

        switch (_options.FailurePolicy)
        {
            case FailurePolicy.DeadLetter:
                await DeadLetterAsync(state, record, error, attempts, token).ConfigureAwait(false);
                break;
            case FailurePolicy.Skip:
                Log.RecordSkipped(_logger, Name, record.Topic, record.Partition.Value, record.Offset.Value, attempts, error);
                ConsumerMetrics.Skip(Name, _options.GroupId!, state.TopicPartition);
                state.Offsets.Complete(record.Offset.Value);
                break;
            case FailurePolicy.StopConsumer:
                Log.StoppingOnFailure(_logger, Name, record.Topic, record.Partition.Value, record.Offset.Value, attempts, error);
                FailPartition(state, error);
                _stopRequest ??= new ConsumerStoppedException(
                    $"Consumer {Name} stopped (FailurePolicy.StopConsumer): {record.Topic} [{record.Partition.Value}] @{record.Offset.Value} failed after {attempts} attempt(s): {error.Message}",
                    error);
                break;
            default:
                Log.HandlerFailed(_logger, Name, record.Topic, record.Partition.Value, record.Offset.Value, error);
                FailPartition(state, error);
                break;
        }
    }

    private void FailPartition(PartitionState state, Exception error)
    {
        state.Fail(error);
        _failures.Enqueue(state);
    }

    /// <summary>
    /// Writes the record to the dead-letter topic, trying again with growing pauses until the write is
    /// acknowledged; only then is the record finished. Gives up (leaving it unfinished) when its work is abandoned.
    /// </summary>
    private async Task DeadLetterAsync(PartitionState state, ConsumeResult<byte[]?, byte[]?> record, Exception error, int attempts, CancellationToken token)
    {
        var pause = FirstRetryPause;
        var failing = false;

        // Deduplicating, the write of this copy is claimed (under its delivery, not its message id, so that a redriven
        // copy that fails again is written again): a record dead-lettered before a crash, and redelivered, is not
        // written twice.
        var dedup = _dedup;
        var key = dedup is null ? default : dedup.DeadLetterKeyOf(record);
        var owner = dedup?.NewOwner() ?? Guid.Empty;
        var marked = false;

        // Whether the record may be in the dead-letter topic already, so that the topic is read before writing: a
        // member crashed in the middle of this write, or a write of this member failed after it may have been made.
        // It stays set until a look-up answered, whatever fails in between.
        var mayBeWritten = false;
        try
        {
            while (true)
            {
                try
                {
                    token.ThrowIfCancellationRequested();
                    if (dedup is not null && !await dedup.ClaimAsync(key, owner, state.TopicPartition, record.Offset.Value, token).ConfigureAwait(false))
                    {
                        state.Offsets.Complete(record.Offset.Value);
                        return;
                    }

                    if (dedup is not null)
                    {
                        dedup.Hold(key, owner, state.TopicPartition, record.Offset.Value);
                        if (!marked)
                        {
                            mayBeWritten |= await dedup.MarkDeadLetterStartedAsync(key, owner, token).ConfigureAwait(false);
                            marked = true;
                        }

                        if (mayBeWritten)
                        {
                            if (await _deadLetters!.ContainsAsync(record, token).ConfigureAwait(false))
                            {
                                Log.DeadLetterFoundWritten(_logger, Name, record.Topic, record.Partition.Value, record.Offset.Value);
                                await dedup.CompleteAsync(key, owner, state.TopicPartition, record.Offset.Value, token).ConfigureAwait(false);
                                state.Offsets.Complete(record.Offset.Value);
                                return;
                            }

                            mayBeWritten = false;
                        }

                        // From here until the acknowledgement, a failure leaves the write possibly made.
                        mayBeWritten = true;
                    }

                    // The write is not cancelled with the record's work: a cancelled produce may still land, so it is
                    // waited for (at most the dead-letter WriteTimeout, librdkafka's message.timeout.ms) while the claim
                    // stays held and renewed, and the record's next owner waits for it instead of writing a second copy.
                    TopicPartitionOffset written;
                    try
                    {
                        written = await _deadLetters!.WriteAsync(record, error, attempts, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (Exception e) when (NotWritten(e))
                    {
                        mayBeWritten = false;
                        throw;
                    }

                    Log.DeadLettered(_logger, Name, record.Topic, record.Partition.Value, record.Offset.Value, attempts, written.Topic, written.Partition.Value, written.Offset.Value, error);
                    ConsumerMetrics.DeadLetter(Name, _options.GroupId!, state.TopicPartition);
                    if (dedup is not null)
                    {
                        // Completion is retried until it succeeds (the write happened): a look-up is no longer needed.
                        await dedup.CompleteAsync(key, owner, state.TopicPartition, record.Offset.Value, token).ConfigureAwait(false);
                    }

                    state.Offsets.Complete(record.Offset.Value);
                    return;
                }
                catch (Exception e) when (!token.IsCancellationRequested)
                {
                    if (!failing)
                    {
                        failing = true;
                        Interlocked.Increment(ref _deadLetterWritesFailing);
                    }

                    Log.DeadLetterWriteFailed(_logger, Name, record.Topic, record.Partition.Value, record.Offset.Value, (long)pause.TotalMilliseconds, e.Message);
                    ConsumerMetrics.DeadLetterWriteFailed(Name, _options.GroupId!, state.TopicPartition);
                }

                await Task.Delay(pause, _time, token).ConfigureAwait(false);
                pause = pause * 2 < MaxRetryPause ? pause * 2 : MaxRetryPause;
            }
        }
        catch (Exception) when (token.IsCancellationRequested)
        {
            // Abandoned (revoked, lost or shut down): not finished, so its next owner handles it again.
        }
        finally
        {
            // Not released when abandoned: the claim expires with its lease, and the next owner looks the record up
            // before writing (its write was marked as started). A write is always waited for before this point.
            dedup?.Unhold(owner);
            if (failing)
            {
                Interlocked.Decrement(ref _deadLetterWritesFailing);
            }
        }
    }

    /// <summary>Whether a failed dead-letter write certainly wrote nothing (it never reached a broker).</summary>
    private static bool NotWritten(Exception e) => e switch
    {
        ProduceException<byte[]?, byte[]?> produce => produce.DeliveryResult?.Status == PersistenceStatus.NotPersisted,
        ObjectDisposedException => true,
        _ => false,
    };

    private void TakeFailures()
    {
        while (_failures.TryDequeue(out var state))
        {
            if (_partitions.TryGetValue(state.TopicPartition, out var current) && ReferenceEquals(current, state))
            {
                _pausesDirty = true;
            }
        }
    }

    /// <summary>
    /// Keeps at most MaxBufferedRecords records fetched but unfinished. When the buffer is full, polling first
    /// holds off (up to <see cref="BackpressureHold"/>) for the handlers to drain it to half: with fast handlers
    /// that is all it takes, and librdkafka keeps what it fetched ahead. If they did not (slow handlers), the
    /// partitions holding at least their fair share of the buffer are paused, and any record that would overfill
    /// it is left untaken (its partition pauses and later resumes right there), so that partitions short of
    /// records get the room as it frees up: every partition keeps its handlers busy.
    /// </summary>
    private void UpdateBackpressure()
    {
        var buffered = Volatile.Read(ref _buffered);
        if (_slowHandlers)
        {
            if (buffered <= _lowMark && !_held.Any(s => (s.Hold & (HoldReasons.Share | HoldReasons.Buffer)) != 0))
            {
                _slowHandlers = false;
                Log.BackpressureOff(_logger, Name, buffered);
            }

            return;
        }

        if (buffered < _options.MaxBufferedRecords || HoldUntilDrained())
        {
            return;
        }

        _slowHandlers = true;
        buffered = Volatile.Read(ref _buffered);
        Log.BackpressureOn(_logger, Name, buffered, _options.MaxBufferedRecords);
        var share = FairShare;
        foreach (var state in _partitions.Values)
        {
            if (state.Buffered >= share)
            {
                HoldPartition(state, HoldReasons.Share);
            }
        }
    }

    /// <summary>Waits up to <see cref="BackpressureHold"/> for the lanes to drain the buffer to half; returns whether they did.</summary>
    private bool HoldUntilDrained()
    {
        _drained.Reset();
        _holding = true;
        try
        {
            return Volatile.Read(ref _buffered) <= _lowMark || _drained.Wait(BackpressureHold);
        }
        finally
        {
            _holding = false;
        }
    }

    /// <summary>Counts a record as finished (or dropped) and wakes a holding poll loop once the buffer is down to half.</summary>
    private void Release(PartitionState state, int records)
    {
        state.Release(records);
        Release(records);
    }

    private void Release(int records)
    {
        if (Interlocked.Add(ref _buffered, -records) <= _lowMark && _holding)
        {
            _drained.Set();
        }
    }

    /// <summary>Pauses partitions that failed or while the buffer is full; resumes the others.</summary>
    private void ReconcilePauses(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (!_pausesDirty)
        {
            return;
        }

        _pausesDirty = false;
        var pause = new List<PartitionState>();
        var resume = new List<PartitionState>();
        var rewind = new List<PartitionState>();
        foreach (var state in _partitions.Values)
        {
            var paused = state.Failed || state.Hold != HoldReasons.None;
            // Unknown (just assigned) counts as neither: the wanted state is applied either way.
            if (paused && state.PausedInClient != true)
            {
                pause.Add(state);
            }
            else if (!paused && state.PausedInClient != false)
            {
                resume.Add(state);
            }
            else if (!paused && state.RefusedAt is not null)
            {
                // Held and let go again before the pause took effect: only the refused records need fetching again.
                rewind.Add(state);
            }
        }

        Apply(pause, paused: true);
        Apply(resume, paused: false);
        RestartFetching(consumer, rewind);

        void Apply(List<PartitionState> states, bool paused)
        {
            if (states.Count == 0)
            {
                return;
            }

            try
            {
                var partitions = states.Select(s => s.TopicPartition).ToList();
                if (paused)
                {
                    consumer.Pause(partitions);
                }
                else
                {
                    consumer.Resume(partitions);
                    RestartFetching(consumer, states);
                }

                var now = _time.GetTimestamp();
                states.ForEach(s =>
                {
                    s.PausedInClient = paused;
                    s.LastFetched = now; // a stall is measured from when fetching (re)started
                });
            }
            catch (KafkaException e)
            {
                OnError(e.Error);
                _pausesDirty = true;
            }
        }
    }

    /// <summary>
    /// Looks, once a second, for partitions that fetch nothing although the engine neither holds nor pauses them and
    /// records wait (librdkafka's last known end offset lies beyond the partition's position) for
    /// <see cref="StallThreshold"/>: a pause the engine does not know of, say. Each is reported (health check, warning)
    /// and resumed and sought to its position again; a resume of a partition that is not paused changes nothing.
    /// librdkafka learns end offsets from fetch responses, so a partition that stopped fetching while it was caught up
    /// keeps an old end offset and is not noticed: this is a second line of defence, not the mechanism.
    /// </summary>
    private void WatchForStalls(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (_time.GetElapsedTime(_lastStallCheck) < StallCheckInterval)
        {
            return;
        }

        _lastStallCheck = _time.GetTimestamp();
        var changed = false;
        foreach (var state in _partitions.Values)
        {
            // The position: after the last record taken, else the committed offset (read at assignment), else where a
            // group without one starts; unknown (no committed offset read) means no verdict. Two records must wait, not
            // one: after a transaction, the end offset lies one past the last record (the commit marker).
            var stalled = state.PausedInClient == false && state.Hold == HoldReasons.None && !state.Failed && !state.Stopped
                && _time.GetElapsedTime(state.LastFetched) >= StallThreshold
                && Watermarks(consumer, state.TopicPartition) is var (low, high)
                && (state.NextPosition?.Offset.Value ?? state.LastCommitted?.Offset
                    ?? (state.StartKnown ? state.StartOffset ?? (_options.AutoOffsetReset == AutoOffsetReset.Latest ? high : low) : null)) is { } position
                && high - position >= 2;
            if (stalled == state.StalledSince.HasValue)
            {
                continue;
            }

            changed = true;
            if (!stalled)
            {
                state.StalledSince = null;
                continue;
            }

            state.StalledSince = _time.GetUtcNow() - _time.GetElapsedTime(state.LastFetched);
            Log.PartitionStalled(_logger, Name, state.TopicPartition, (long)_time.GetElapsedTime(state.LastFetched).TotalMilliseconds);
            state.PausedInClient = null; // unknown: the next reconciliation resumes it and seeks to its position
            _pausesDirty = true;
        }

        if (changed)
        {
            PublishAssignment();
        }
    }

    /// <summary>librdkafka's last known start and end offsets of a partition (no request); each null when it knows none.</summary>
    private static (long? Low, long? High) Watermarks(IConsumer<byte[]?, byte[]?> consumer, TopicPartition partition)
    {
        try
        {
            var watermarks = consumer.GetWatermarkOffsets(partition);
            return (watermarks.Low.Value >= 0 ? watermarks.Low.Value : null, watermarks.High.Value >= 0 ? watermarks.High.Value : null);
        }
        catch (KafkaException)
        {
            return (null, null);
        }
    }

    /// <summary>
    /// Seeks resumed partitions back to the first record they refused, which librdkafka has already moved past.
    /// A resumed partition that refused nothing is sought to its own position (the last record handed out + 1,
    /// with its leader epoch, which is where librdkafka resumes anyway): after a resume, librdkafka's broker
    /// thread notices the partition only on its next idle wake-up, up to a second later (rd_kafka_max_block_ms),
    /// and the seek restarts fetching at once. Neither skips nor repeats a record. A seek that fails for a
    /// partition that refused records is tried again at the next poll; its records stay refused until then.
    /// </summary>
    private void RestartFetching(IConsumer<byte[]?, byte[]?> consumer, List<PartitionState> states)
    {
        foreach (var state in states)
        {
            if ((state.RefusedAt ?? state.NextPosition) is not { } position)
            {
                continue;
            }

            try
            {
                consumer.Seek(position);
                state.Rewound();
            }
            catch (KafkaException e)
            {
                OnError(e.Error);
                _pausesDirty |= state.RefusedAt is not null;
            }
        }
    }

    /// <summary>
    /// Commits on the interval without waiting for the result (the poll thread goes on serving the group: a slow or
    /// unreachable coordinator must not hold up rebalances), one commit in flight at a time. Its result is collected by
    /// <see cref="CollectIntervalCommit"/>; what fails is tried again at the next interval.
    /// </summary>
    private void CommitOnInterval(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (CollectIntervalCommit(abandon: false))
        {
            return; // the previous one is still in flight
        }

        var pending = PendingCommits(_partitions.Values);
        if (pending.Count == 0)
        {
            return;
        }

        try
        {
            _intervalCommit = (_offsetStore.BeginCommit(consumer, [.. pending.Select(p => p.Commit)]), pending, _time.GetTimestamp());
        }
        catch (KafkaException e)
        {
            Log.CommitFailed(_logger, Name, Offsets(pending), "interval", e.Error);
        }
    }

    /// <summary>
    /// Takes the result of the interval commit in flight if it came; returns true while it is still in flight. No new
    /// interval commit is sent until then (librdkafka starts no newly assigned partition while a commit is outstanding,
    /// so commits piling up would stall rebalances); one overdue after <see cref="CommitTimeout"/> is reported once.
    /// With <paramref name="abandon"/> (a commit that waits for its result follows), it is no longer waited for: it is
    /// kept aside, and if it still succeeds afterwards, its partitions are committed again (it may have landed after
    /// the newer commit and moved their committed offsets back).
    /// </summary>
    private bool CollectIntervalCommit(bool abandon)
    {
        CollectAbandonedCommits();
        if (_intervalCommit is not { } inFlight)
        {
            return false;
        }

        try
        {
            if (inFlight.Commit.TryComplete())
            {
                inFlight.Parts.ForEach(p => p.State.LastCommitted = (p.Commit.Offset, p.Commit.Metadata));
                Log.Committed(_logger, Name, Offsets(inFlight.Parts), "interval");
            }
            else if (abandon)
            {
                _abandonedCommits.Add(inFlight);
                _intervalCommit = null;
                return false;
            }
            else
            {
                if (_time.GetElapsedTime(inFlight.Sent) >= CommitTimeout && !_intervalCommitOverdue)
                {
                    _intervalCommitOverdue = true;
                    Log.CommitFailed(_logger, Name, Offsets(inFlight.Parts), "interval", new Error(ErrorCode.Local_TimedOut, $"no result within {CommitTimeout.TotalMilliseconds:0} ms; no other interval commit is sent until it comes"));
                }

                return true;
            }
        }
        catch (TopicPartitionOffsetException e)
        {
            if (ApplyPartialResult(inFlight.Parts, e, out _) is { } failure)
            {
                Log.CommitFailed(_logger, Name, failure.Offsets, "interval", failure.Error);
            }
        }
        catch (KafkaException e)
        {
            Log.CommitFailed(_logger, Name, Offsets(inFlight.Parts), "interval", e.Error);
        }

        inFlight.Commit.Dispose();
        _intervalCommit = null;
        _intervalCommitOverdue = false;
        return false;
    }

    /// <summary>
    /// Collects the results of interval commits that a waited-for commit overtook: one that succeeded may have moved its
    /// partitions' committed offsets back, so they count as uncommitted again (the next commit sends them).
    /// </summary>
    private void CollectAbandonedCommits()
    {
        for (var i = _abandonedCommits.Count - 1; i >= 0; i--)
        {
            var (commit, parts, _) = _abandonedCommits[i];
            bool succeeded;
            try
            {
                if (!commit.TryComplete())
                {
                    continue;
                }

                succeeded = true;
            }
            catch (KafkaException)
            {
                succeeded = false;
            }

            if (succeeded)
            {
                parts.ForEach(p => p.State.LastCommitted = null);
            }

            commit.Dispose();
            _abandonedCommits.RemoveAt(i);
        }
    }

    /// <summary>Whether an overtaken interval commit of the partition is still outstanding (it could land later and move its offset back).</summary>
    private bool HasAbandonedCommit(PartitionState state) => _abandonedCommits.Any(c => c.Parts.Any(p => ReferenceEquals(p.State, state)));

    private static List<TopicPartitionOffset> Offsets(IEnumerable<(PartitionState State, OffsetCommit Commit)> parts) =>
        [.. parts.Select(p => new TopicPartitionOffset(p.Commit.Partition, p.Commit.Offset))];

    /// <summary>
    /// Commits before partitions are let go (revocation, shutdown), retrying transient group errors (a rebalance
    /// in progress, a moving coordinator) with backoff while <paramref name="budget"/> lasts. Inside a rebalance
    /// callback it only sleeps between attempts; otherwise (<paramref name="serveConsumer"/>) it keeps polling
    /// so that librdkafka can finish a concurrent rebalance and commit with the group's current generation.
    /// </summary>
    private void CommitBeforeLettingGo(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyCollection<PartitionState> states, string reason, TimeSpan budget, bool serveConsumer, TimeSpan? limit = null)
    {
        // Retries stop when the budget is spent; no attempt waits beyond the limit (the whole revocation or stop).
        var hardLimit = limit is { } l && l > budget ? l : budget;
        var started = _time.GetTimestamp();
        var backoff = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            var left = hardLimit - _time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                if (HasUncommitted(serveConsumer ? _partitions.Values : states))
                {
                    Log.CommitSkipped(_logger, Name, reason, (long)hardLimit.TotalMilliseconds);
                }

                return;
            }

            if (TryCommit(consumer, serveConsumer ? _partitions.Values : states, reason, left < CommitTimeout ? left : CommitTimeout) is not { } failure)
            {
                return;
            }

            var remaining = budget - _time.GetElapsedTime(started);
            // Outside a rebalance callback, a commit sent with the generation that a rebalance just replaced is
            // retried: once librdkafka has rejoined, the next attempt carries the new generation.
            var transient = IsTransientCommitError(failure.Error.Code) || (serveConsumer && failure.Error.Code == ErrorCode.IllegalGeneration);
            if (!transient || remaining <= TimeSpan.Zero)
            {
                Log.CommitFailedFinal(_logger, Name, failure.Offsets, reason, failure.Error);
                return;
            }

            var wait = backoff < remaining ? backoff : remaining;
            if (serveConsumer)
            {
                ServeWhileStopping(consumer, wait);
            }
            else
            {
                Thread.Sleep(wait);
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxCommitBackoff.Ticks));
        }
    }

    /// <summary>Whether any of the partitions finished records beyond what it last committed.</summary>
    private bool HasUncommitted(IEnumerable<PartitionState> states) =>
        !_atMostOnce && states.Any(s => s.Offsets.Committable is { } offset && s.LastCommitted?.Offset != offset);

    /// <summary>
    /// One commit of each partition's committable offset that moved since its last commit. Returns null when
    /// everything was committed (or nothing was new), else the error and the offsets that failed. A partition whose
    /// metadata the broker refuses as too large (offset.metadata.max.bytes below ours) is committed again at once with
    /// less metadata.
    /// </summary>
    private (Error Error, List<TopicPartitionOffset> Offsets)? TryCommit(IConsumer<byte[]?, byte[]?> consumer, IEnumerable<PartitionState> states, string reason, TimeSpan timeout)
    {
        // A commit that waits for its result is sent after the interval commit in flight, so it wins: that one's
        // result no longer matters.
        CollectIntervalCommit(abandon: true);
        var candidates = states.ToList();

        // An overtaken commit still outstanding could land after this one: commit its partitions whatever they last
        // committed, so that the last word is this commit's.
        foreach (var state in candidates.Where(HasAbandonedCommit))
        {
            state.LastCommitted = null;
        }

        while (true)
        {
            var pending = PendingCommits(candidates);
            if (pending.Count == 0)
            {
                return null;
            }

            try
            {
                _offsetStore.Commit(consumer, [.. pending.Select(p => p.Commit)], timeout);
                pending.ForEach(p => p.State.LastCommitted = (p.Commit.Offset, p.Commit.Metadata));
                Log.Committed(_logger, Name, Offsets(pending), reason);
                return null;
            }
            catch (TopicPartitionOffsetException e)
            {
                var failure = ApplyPartialResult(pending, e, out var tooLarge);
                if (failure is null && tooLarge.Count > 0)
                {
                    candidates = tooLarge;
                    continue;
                }

                return failure;
            }
            catch (KafkaException e)
            {
                return (e.Error, Offsets(pending));
            }
        }
    }

    /// <summary>Each partition's committable offset (with the finished records beyond it) that moved since its last commit.</summary>
    private List<(PartitionState State, OffsetCommit Commit)> PendingCommits(IEnumerable<PartitionState> states)
    {
        var pending = new List<(PartitionState State, OffsetCommit Commit)>();
        foreach (var state in states)
        {
            var (committable, finished) = state.Offsets.Snapshot();
            if (committable is not { } offset)
            {
                continue;
            }

            var metadata = _atMostOnce ? null : EncodeFinished(state, offset, finished);
            if (state.LastCommitted != (offset, metadata))
            {
                pending.Add((state, new OffsetCommit(state.TopicPartition, offset, null, metadata)));
            }
        }

        return pending;
    }

    /// <summary>
    /// Records what a commit that failed for some partitions did commit. librdkafka reports the request's error (the
    /// last partition error) on every partition that had none, so a partition reported failed may have been committed:
    /// it is committed again later, which is safe. When the brokers refused metadata as too large
    /// (offset.metadata.max.bytes below ours), the metadata limit is lowered below the longest metadata sent, and every
    /// partition reported with that error is returned in <paramref name="tooLarge"/>, to be committed again at once.
    /// Returns the first other error and the offsets that failed with it, or null.
    /// </summary>
    private (Error Error, List<TopicPartitionOffset> Offsets)? ApplyPartialResult(
        List<(PartitionState State, OffsetCommit Commit)> parts, TopicPartitionOffsetException e, out List<PartitionState> tooLarge)
    {
        var failed = new List<TopicPartitionOffset>();
        tooLarge = [];
        var longest = parts.MaxBy(p => p.Commit.Metadata?.Length ?? 0);
        var metadataRefused = e.Results.Any(r => r.Error.Code == ErrorCode.OffsetMetadataTooLarge) && longest.Commit.Metadata is { Length: > 0 };
        if (metadataRefused)
        {
            LimitMetadata(longest.State, longest.Commit.Metadata!.Length);
        }

        foreach (var (state, commit) in parts)
        {
            var result = e.Results.FirstOrDefault(r => r.TopicPartition == state.TopicPartition);
            if (result is { Error.IsError: false })
            {
                state.LastCommitted = (commit.Offset, commit.Metadata);
            }
            else if (metadataRefused && result?.Error.Code == ErrorCode.OffsetMetadataTooLarge)
            {
                tooLarge.Add(state);
            }
            else
            {
                failed.Add(new TopicPartitionOffset(state.TopicPartition, commit.Offset));
            }
        }

        return failed.Count == 0 ? null : (e.Results.FirstOrDefault(r => r.Error.IsError)?.Error ?? e.Error, failed);
    }

    /// <summary>
    /// Learns that the brokers refuse commit metadata of <paramref name="refusedLength"/> characters: later metadata
    /// carries at most half of that (the offsets finished beyond the watermark that fit; the rest are handled again
    /// after a restart). Logged once.
    /// </summary>
    private void LimitMetadata(PartitionState state, int refusedLength)
    {
        var limit = Math.Min(_metadataLimit, refusedLength / 2);
        if (!_metadataLimited)
        {
            _metadataLimited = true;
            Log.MetadataTooLarge(_logger, Name, state.TopicPartition, refusedLength, limit);
        }

        _metadataLimit = limit;
    }

    /// <summary>The commit metadata: which records beyond the watermark finished (null when none).</summary>
    private string? EncodeFinished(PartitionState state, long watermark, List<long> finished)
    {
        try
        {
            return _metadataLimit >= OffsetGapCodec.MaxLength
                ? OffsetGapCodec.Encode(watermark, finished)
                : OffsetGapCodec.EncodeWithin(watermark, finished, _metadataLimit);
        }
        catch (ArgumentOutOfRangeException e)
        {
            // Cannot happen while the gap bound holds; committing the watermark alone is still safe.
            Log.MetadataNotWritten(_logger, Name, state.TopicPartition, e.Message);
            return null;
        }
    }

    private static bool IsTransientCommitError(ErrorCode code) => code is
        ErrorCode.RebalanceInProgress or
        ErrorCode.NotCoordinatorForGroup or
        ErrorCode.GroupCoordinatorNotAvailable or
        ErrorCode.GroupLoadInProgress or
        ErrorCode.RequestTimedOut or
        ErrorCode.NetworkException or
        ErrorCode.Local_TimedOut or
        ErrorCode.Local_Transport or
        ErrorCode.Local_WaitCoord or
        ErrorCode.Local_AllBrokersDown;

    /// <summary>
    /// While stopping, polls so that rebalance callbacks and group protocol progress are served; records it
    /// returns are not handled (their partitions are stopped) and stay uncommitted for the next owner.
    /// </summary>
    private void ServeWhileStopping(IConsumer<byte[]?, byte[]?> consumer, TimeSpan wait)
    {
        try
        {
            consumer.Consume(wait);
        }
        catch (ConsumeException e)
        {
            OnError(e.Error);
        }
    }

    /// <summary>
    /// Stops the lanes of <paramref name="states"/> and waits for their running handlers up to
    /// <paramref name="timeout"/>, then cancels the ones still running (their records stay uncommitted).
    /// </summary>
    private void Drain(List<PartitionState> states, TimeSpan timeout, string reason)
    {
        foreach (var state in states)
        {
            state.Stop(finishQueued: _atMostOnce);
        }

        var started = _time.GetTimestamp();
        var stuck = new List<PartitionState>();
        foreach (var state in states)
        {
            var remaining = timeout - _time.GetElapsedTime(started);
            if (!state.WaitIdle(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero))
            {
                stuck.Add(state);
            }
        }

        if (stuck.Count > 0)
        {
            Log.HandlersAbandoned(_logger, Name, stuck.Select(s => s.TopicPartition), timeout, reason);
            foreach (var state in stuck)
            {
                state.Cancellation.Cancel();
            }
        }
    }

    /// <summary>
    /// A graceful stop within one budget, <see cref="ConsumerOptions.ShutdownTimeout"/> (at least <see cref="MinimumStop"/>):
    /// running handlers get most of it, then what finished is committed and the member leaves the group. Leaving runs the
    /// revocation callback, which neither waits for handlers again nor commits beyond the budget; if librdkafka's close
    /// does not finish within the budget (a coordinator that does not answer), the client is left behind.
    /// </summary>
    /// <returns>False when the client was left behind (it must not be disposed under a running close).</returns>
    private bool ShutDown(IConsumer<byte[]?, byte[]?> consumer)
    {
        StartPendingLanes();
        _stopping = true;
        var budget = _options.ShutdownTimeout > MinimumStop ? _options.ShutdownTimeout : MinimumStop;
        var reserve = TimeSpan.FromTicks(Math.Min(budget.Ticks / StopReserveDivisor, MaxStopReserve.Ticks));
        _stopStarted = _time.GetTimestamp();
        _stopBudget = budget;
        _closeReserve = reserve / 2;
        Log.ConsumerStopping(_logger, Name, (long)budget.TotalMilliseconds);
        Drain([.. _partitions.Values], budget - reserve, "shutdown");

        // The commit leaves half of what is left for leaving the group (the close reserve), which no commit may use.
        CommitBeforeLettingGo(consumer, [], "shutdown", StopRemaining() - _closeReserve, serveConsumer: true);

        // Leaving the group revokes the partitions (with cooperative assignment): the revocation neither waits for
        // handlers again nor commits into the close reserve.
        var closed = Close(consumer, StopRemaining());
        ThrowIfFailed();
        Log.ConsumerStopped(_logger, Name);
        return closed;
    }

    /// <summary>What is left of the graceful stop's budget (poll thread, or the thread closing the consumer).</summary>
    private TimeSpan StopRemaining()
    {
        var remaining = _stopBudget - _time.GetElapsedTime(_stopStarted);
        return remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
    }

    /// <summary>
    /// Leaves the group (librdkafka's close, which runs the revocation callback) on a thread of its own, waiting at most
    /// <paramref name="timeout"/>: librdkafka's close can wait without end for a coordinator that does not answer. The
    /// poll thread waits meanwhile, so the callback still has the engine to itself. Returns false when it did not finish:
    /// the client is then left behind, and the engine's state is no longer touched by the poll thread.
    /// </summary>
    private bool Close(IConsumer<byte[]?, byte[]?> consumer, TimeSpan timeout)
    {
        var close = new Thread(() =>
        {
            try
            {
                consumer.Close();
            }
            catch (Exception e)
            {
                Log.CloseFailed(_logger, Name, e.Message);
            }
        })
        {
            IsBackground = true,
            Name = $"ReliableKafka consumer {Name} close",
        };
        close.Start();
        if (close.Join(timeout))
        {
            return true;
        }

        Log.CloseTimedOut(_logger, Name, (long)timeout.TotalMilliseconds);
        return false;
    }

    private void OnAssigned(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> partitions)
    {
        Log.PartitionsAssigned(_logger, Name, partitions);
        foreach (var partition in partitions)
        {
            // librdkafka keeps an application pause on a partition across unassign and assign (only its own internal
            // pause is reset), so a partition this member paused before it was revoked or lost comes back paused. Its
            // pause state is unknown here (PausedInClient null): the next reconciliation pauses or resumes it explicitly.
            var state = new PartitionState(partition, _options.OrderingMode, _runLane) { LastFetched = _time.GetTimestamp() };
            if (_stopping)
            {
                // Assigned during a graceful stop: nothing of it is handled.
                state.Stop();
            }

            _partitions[partition] = state;
        }

        PublishAssignment();
        _pausesDirty = true;
        if (!_atMostOnce && partitions.Count > 0 && !_stopping)
        {
            ResumeWhereThePreviousOwnerLeftOff(consumer, partitions);
        }
    }

    /// <summary>
    /// Reads the committed metadata of newly assigned partitions, so that records a previous owner finished
    /// beyond the committed offset are not handled again. Unreadable, foreign or stale metadata is ignored with
    /// a warning: those records are then handled again (at least once).
    /// </summary>
    private void ResumeWhereThePreviousOwnerLeftOff(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> partitions)
    {
        IReadOnlyList<CommittedOffset> committed;
        try
        {
            committed = _offsetStore.ReadCommitted(consumer, partitions, CommittedReadTimeout);
        }
        catch (KafkaException e)
        {
            Log.CommittedReadFailed(_logger, Name, partitions, e.Error);
            return;
        }

        foreach (var entry in committed)
        {
            if (!_partitions.TryGetValue(entry.Partition, out var state))
            {
                continue;
            }

            state.StartOffset = entry.Offset >= 0 ? entry.Offset : null;
            state.StartKnown = true;
            if (entry.Metadata is null)
            {
                continue;
            }

            if (!OffsetGapCodec.TryDecode(entry.Metadata, out var watermark, out var finished, out var error))
            {
                Log.MetadataIgnored(_logger, Name, entry.Partition, error ?? "unreadable");
            }
            else if (watermark != entry.Offset)
            {
                Log.MetadataIgnored(_logger, Name, entry.Partition, $"it describes offset {watermark}, the committed offset is {entry.Offset}");
            }
            else
            {
                state.SkipFinished(finished);
                Log.ResumingPastFinished(_logger, Name, entry.Partition, entry.Offset, finished.Length);
            }
        }
    }

    private void OnRevoked(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartitionOffset> partitions)
    {
        StartPendingLanes();
        Log.PartitionsRevoked(_logger, Name, partitions);
        var states = partitions
            .Select(p => _partitions.GetValueOrDefault(p.TopicPartition))
            .OfType<PartitionState>()
            .ToList();
        if (!_crashRequested && !_failed && states.Count > 0)
        {
            // Inside the rebalance callback the group may already be rejoining without us: commit what finished
            // at once (the sooner, the likelier the coordinator accepts it), then let running handlers finish,
            // then commit again. Retries stay short: a coordinator that refuses commits during a rebalance waits
            // for this member to rejoin, which it can only do after this callback returns.
            // While stopping, the handlers were waited for already and everything is bounded by the stop's budget.
            var started = _time.GetTimestamp();
            CommitBeforeLettingGo(consumer, states, "revocation", CallbackCommitBudget(started), serveConsumer: false, RevocationRemaining(started));
            Drain(states, _stopping ? TimeSpan.Zero : RevocationRemaining(started), "revocation");
            CommitBeforeLettingGo(consumer, states, "revocation", CallbackCommitBudget(started), serveConsumer: false, RevocationRemaining(started));
        }

        foreach (var state in states)
        {
            state.Cancellation.Cancel();
            _partitions.Remove(state.TopicPartition);
        }

        PublishAssignment();
    }

    /// <summary>Publishes the assigned partitions' states for readers off the poll thread (tests, health checks).</summary>
    private void PublishAssignment() => Volatile.Write(ref _assigned, [.. _partitions.Values]);

    private TimeSpan CallbackCommitBudget(long started) => Min(RevocationRemaining(started), MaxCallbackCommitRetry);

    /// <summary>What is left of a revocation's budget (<see cref="ConsumerOptions.RevocationTimeout"/>, and the stop's while stopping).</summary>
    private TimeSpan RevocationRemaining(long started)
    {
        var remaining = _options.RevocationTimeout - _time.GetElapsedTime(started);
        remaining = _stopping ? Min(remaining, StopRemaining() - _closeReserve) : remaining;
        return remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private void OnLost(List<TopicPartitionOffset> partitions)
    {
        StartPendingLanes();
        Log.PartitionsLost(_logger, Name, partitions);
        foreach (var partition in partitions)
        {
            if (_partitions.Remove(partition.TopicPartition, out var state))
            {
                state.Stop();
                state.Cancellation.Cancel();
            }
        }

        PublishAssignment();
    }

    private void OnError(Error error)
    {
        if (error.IsFatal)
        {
            _fatalError ??= error;
            Log.ConsumerFatalError(_logger, Name, error.Code, error.Reason);
        }
        else
        {
            Log.ConsumerError(_logger, Name, error.Code, error.Reason);
        }
    }

    private void ThrowIfFailed()
    {
        if (Volatile.Read(ref _failure) is { } failure)
        {
            throw failure;
        }

        if (_fatalError is { } error)
        {
            throw new KafkaException(error);
        }
    }
}
