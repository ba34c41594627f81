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

    // While fetching is paused, poll often so that it resumes soon after the buffer drains.
    private static readonly TimeSpan BackpressurePollTimeout = TimeSpan.FromMilliseconds(5);

    // When the buffer fills, polling first holds off this long for the lanes to drain before partitions are
    // paused: pausing makes librdkafka drop what it fetched ahead, which then has to be fetched again.
    private static readonly TimeSpan DefaultBackpressureHold = TimeSpan.FromMilliseconds(250);
    private const int AtMostOnceBatchLimit = 500;

    // Records taken from librdkafka's already-fetched queue in one go before the lanes they went to are started.
    private const int DispatchBatchLimit = 256;

    // A shutdown commit retries transient errors for at least this long, even after a slow drain.
    private static readonly TimeSpan MinimumFinalCommitBudget = TimeSpan.FromSeconds(1);

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
    private volatile Error? _fatalError;
    private volatile bool _crashRequested;
    private volatile Exception? _stopRequest;
    private volatile Exception? _failure;
    private volatile bool _failed;
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

            ShutDown(consumer);
        }
        catch (Exception e)
        {
            // Loud and final: whatever escaped the poll loop or a rebalance callback stops the consumer; it never
            // stays assigned and idle. Nothing more is committed; the records not committed are handled again by
            // the partitions' next owner.
            var failure = _failure ?? e;
            Log.ConsumerFailed(_logger, Name, failure);
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
            AbandonAll();
            if (!leftBehind)
            {
                consumer.Dispose(); // without Close after a crash; after a failure, Close was tried first
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
            _failure ??= new InvalidOperationException($"Consumer {Name} failed while {what}: {e.Message}", e);
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
    /// session timeout) without committing anything. librdkafka's close can wait without end for a coordinator that
    /// does not answer, so it runs on a thread of its own for at most <see cref="FailureCloseTimeout"/>; returns false
    /// when it did not finish (the client is then left behind, not disposed under a running close).
    /// </summary>
    private bool LeaveAfterFailure(IConsumer<byte[]?, byte[]?> consumer)
    {
        _failed = true;
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
        if (close.Join(FailureCloseTimeout))
        {
            return true;
        }

        Log.CloseTimedOut(_logger, Name, (long)FailureCloseTimeout.TotalMilliseconds);
        return false;
    }

    private void Poll(IConsumer<byte[]?, byte[]?> consumer)
    {
        TakeFailures();
        ReleaseHolds();
        UpdateBackpressure();
        ReconcilePauses(consumer);

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

            var next = state.NextPosition?.Offset.Value ?? 0;
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
            _offsetStore.Commit(consumer, [.. ranges.Select(r => new OffsetCommit(r.State.TopicPartition, r.Next, null, null))]);
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
                    await _handler.HandleAsync(run.Prepared, attempt, dedup?.Transactional is { } store ? run.BeginTransaction(store, token) : null, token).ConfigureAwait(false);
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

        // Deduplicating, the write itself is claimed (under an id of its own, so that a redriven copy is handled):
        // a record dead-lettered before a crash, and redelivered, is not written twice.
        var dedup = _dedup;
        var key = dedup is null ? default : dedup.DeadLetterKeyOf(record);
        var owner = dedup?.NewOwner() ?? Guid.Empty;
        var marked = false;
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

                    // A member that crashed in the middle of this write may have written it: look before writing again.
                    if (dedup is not null && !marked)
                    {
                        var interrupted = await dedup.MarkDeadLetterStartedAsync(key, owner, token).ConfigureAwait(false);
                        marked = true;
                        if (interrupted && await _deadLetters!.ContainsAsync(record, token).ConfigureAwait(false))
                        {
                            Log.DeadLetterFoundWritten(_logger, Name, record.Topic, record.Partition.Value, record.Offset.Value);
                            await dedup.CompleteAsync(key, owner, state.TopicPartition, record.Offset.Value, token).ConfigureAwait(false);
                            state.Offsets.Complete(record.Offset.Value);
                            return;
                        }
                    }

                    var written = await _deadLetters!.WriteAsync(record, error, attempts, token).ConfigureAwait(false);
                    Log.DeadLettered(_logger, Name, record.Topic, record.Partition.Value, record.Offset.Value, attempts, written.Topic, written.Partition.Value, written.Offset.Value, error);
                    ConsumerMetrics.DeadLetter(Name, _options.GroupId!, state.TopicPartition);
                    if (dedup is not null)
                    {
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
            if (failing)
            {
                Interlocked.Decrement(ref _deadLetterWritesFailing);
            }
        }
    }

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
            if (paused && !state.PausedInClient)
            {
                pause.Add(state);
            }
            else if (!paused && state.PausedInClient)
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

                states.ForEach(s => s.PausedInClient = paused);
            }
            catch (KafkaException e)
            {
                OnError(e.Error);
                _pausesDirty = true;
            }
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

    /// <summary>Commits on the interval: one attempt; what fails is tried again at the next interval.</summary>
    private void CommitOnInterval(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (TryCommit(consumer, _partitions.Values, "interval") is { } failure)
        {
            Log.CommitFailed(_logger, Name, failure.Offsets, "interval", failure.Error);
        }
    }

    /// <summary>
    /// Commits before partitions are let go (revocation, shutdown), retrying transient group errors (a rebalance
    /// in progress, a moving coordinator) with backoff while <paramref name="budget"/> lasts. Inside a rebalance
    /// callback it only sleeps between attempts; otherwise (<paramref name="serveConsumer"/>) it keeps polling
    /// so that librdkafka can finish a concurrent rebalance and commit with the group's current generation.
    /// </summary>
    private void CommitBeforeLettingGo(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyCollection<PartitionState> states, string reason, TimeSpan budget, bool serveConsumer)
    {
        var started = _time.GetTimestamp();
        var backoff = TimeSpan.FromMilliseconds(50);
        while (TryCommit(consumer, serveConsumer ? _partitions.Values : states, reason) is { } failure)
        {
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

    /// <summary>
    /// One commit of each partition's committable offset that moved since its last commit. Returns null when
    /// everything was committed (or nothing was new), else the error and the offsets that failed.
    /// </summary>
    private (Error Error, List<TopicPartitionOffset> Offsets)? TryCommit(IConsumer<byte[]?, byte[]?> consumer, IEnumerable<PartitionState> states, string reason)
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

        if (pending.Count == 0)
        {
            return null;
        }

        var offsets = pending.Select(p => new TopicPartitionOffset(p.Commit.Partition, p.Commit.Offset)).ToList();
        try
        {
            _offsetStore.Commit(consumer, [.. pending.Select(p => p.Commit)]);
            pending.ForEach(p => p.State.LastCommitted = (p.Commit.Offset, p.Commit.Metadata));
            Log.Committed(_logger, Name, offsets, reason);
            return null;
        }
        catch (TopicPartitionOffsetException e)
        {
            var failed = new List<TopicPartitionOffset>();
            foreach (var (state, commit) in pending)
            {
                if (e.Results.FirstOrDefault(r => r.TopicPartition == state.TopicPartition) is { Error.IsError: false })
                {
                    state.LastCommitted = (commit.Offset, commit.Metadata);
                }
                else
                {
                    failed.Add(new TopicPartitionOffset(state.TopicPartition, commit.Offset));
                }
            }

            return failed.Count == 0 ? null : (e.Results.FirstOrDefault(r => r.Error.IsError)?.Error ?? e.Error, failed);
        }
        catch (KafkaException e)
        {
            return (e.Error, offsets);
        }
    }

    /// <summary>The commit metadata: which records beyond the watermark finished (null when none).</summary>
    private string? EncodeFinished(PartitionState state, long watermark, List<long> finished)
    {
        try
        {
            return OffsetGapCodec.Encode(watermark, finished);
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

    private void ShutDown(IConsumer<byte[]?, byte[]?> consumer)
    {
        StartPendingLanes();
        _stopping = true;
        Log.ConsumerStopping(_logger, Name, (long)_options.ShutdownTimeout.TotalMilliseconds);
        var started = _time.GetTimestamp();
        Drain([.. _partitions.Values], _options.ShutdownTimeout, "shutdown");
        var remaining = _options.ShutdownTimeout - _time.GetElapsedTime(started);
        CommitBeforeLettingGo(consumer, [], "shutdown", remaining > MinimumFinalCommitBudget ? remaining : MinimumFinalCommitBudget, serveConsumer: true);
        try
        {
            // Leaves the group; with cooperative assignment this revokes the partitions (OnRevoked: nothing left to commit).
            consumer.Close();
        }
        catch (KafkaException e)
        {
            Log.CloseFailed(_logger, Name, e.Error.Reason);
        }

        Log.ConsumerStopped(_logger, Name);
    }

    private void OnAssigned(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> partitions)
    {
        Log.PartitionsAssigned(_logger, Name, partitions);
        foreach (var partition in partitions)
        {
            var state = new PartitionState(partition, _options.OrderingMode, _runLane);
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
            if (entry.Metadata is null || !_partitions.TryGetValue(entry.Partition, out var state))
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
            var started = _time.GetTimestamp();
            CommitBeforeLettingGo(consumer, states, "revocation", CallbackCommitBudget(started), serveConsumer: false);
            Drain(states, _options.RevocationTimeout, "revocation");
            CommitBeforeLettingGo(consumer, states, "revocation", CallbackCommitBudget(started), serveConsumer: false);
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

    private TimeSpan CallbackCommitBudget(long started)
    {
        var remaining = _options.RevocationTimeout - _time.GetElapsedTime(started);
        return remaining < MaxCallbackCommitRetry ? remaining : MaxCallbackCommitRetry;
    }

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
        if (_failure is { } failure)
        {
            throw failure;
        }

        if (_fatalError is { } error)
        {
            throw new KafkaException(error);
        }
    }
}
