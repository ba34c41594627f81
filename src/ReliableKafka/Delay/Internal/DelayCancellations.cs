using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Extensions.Logging;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Delay.Internal;

/// <summary>
/// A forwarder's view of the cancellation topic: a thread reads every partition from the start (assigned, in no group)
/// and follows it, remembering each cancelled schedule id until <see cref="DelayedDeliveryOptions.CancellationRetention"/>
/// after its due time. While deliveries wait on it (and for a while after), the thread runs catch-up rounds: it looks up
/// the end offsets, reads up to them, and then knows that every cancellation acknowledged before the look-up began has
/// been read (<see cref="ReadAsOf"/>). Before a message's last hop the forwarder waits for <see cref="WaitUntilReadAsync"/>
/// with a time before the message's due time; under steady traffic a recent round already covers it and nothing waits.
/// </summary>
internal sealed class DelayCancellations : IDisposable
{
    private static readonly TimeSpan QueryTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RetryPause = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PruneInterval = TimeSpan.FromMinutes(1);

    /// <summary>How often a catch-up round starts while deliveries are waiting or recently waited.</summary>
    private static readonly TimeSpan RoundInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>How long rounds go on after the last wait (so that steady traffic finds a recent round).</summary>
    private static readonly TimeSpan RoundsLinger = TimeSpan.FromSeconds(30);

    private readonly IEnumerable<KeyValuePair<string, string>> _settings;
    private readonly string _topic;
    private readonly string _name;
    private readonly string? _cluster;
    private readonly TimeSpan _retention;
    private readonly TimeProvider _time;
    private readonly KafkaClientFactory _clients;
    private readonly ILogger _logger;
    private readonly Action<IReadOnlyList<(string ScheduleId, TopicPartition Partition)>> _expire;
    private readonly Dictionary<string, TopicPartition> _expired = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (DateTimeOffset DueAt, TopicPartition Partition)> _cancelled = new(StringComparer.Ordinal);
    private readonly List<(DateTimeOffset AsOf, TaskCompletionSource Done)> _waiting = [];
    private readonly CancellationTokenSource _stop = new();
    private DateTimeOffset _readAsOf = DateTimeOffset.MinValue;
    private DateTimeOffset? _failingSince;
    private long _loggedFailure;
    private long _lastWaitTimestamp;
    private Thread? _thread;
    private bool _disposed;

    /// <param name="settings">The reader's librdkafka settings (those of the forwarder's consumer, as a reader of its own).</param>
    /// <param name="topic">The cancellation topic.</param>
    /// <param name="name">The forwarder's name (logs, thread name).</param>
    /// <param name="cluster">The cluster of the topic, or null for the default one.</param>
    /// <param name="retention">How long after its due time a cancellation is remembered.</param>
    /// <param name="time">The clock.</param>
    /// <param name="clients">Creates the reader.</param>
    /// <param name="logger">Logs failures.</param>
    /// <param name="expire">
    /// Writes tombstones for cancellations past their retention (the topic is compacted only, so that a cancellation of a
    /// message due months ahead is not deleted by age before it is used); called on the reader thread.
    /// </param>
    public DelayCancellations(
        IEnumerable<KeyValuePair<string, string>> settings,
        string topic,
        string name,
        string? cluster,
        TimeSpan retention,
        TimeProvider time,
        KafkaClientFactory clients,
        ILogger logger,
        Action<IReadOnlyList<(string ScheduleId, TopicPartition Partition)>> expire)
    {
        _expire = expire;
        _settings = settings;
        _topic = topic;
        _name = name;
        _cluster = cluster;
        _retention = retention;
        _time = time;
        _clients = clients;
        _logger = logger;
    }

    /// <summary>Gets how many cancellations are remembered.</summary>
    public int Count
    {
        get
        {
            lock (_cancelled)
            {
                return _cancelled.Count;
            }
        }
    }

    /// <summary>
    /// Gets the start of the last completed catch-up round (this process's clock): every cancellation acknowledged
    /// before it has been read. <see cref="DateTimeOffset.MinValue"/> before the first round.
    /// </summary>
    public DateTimeOffset ReadAsOf
    {
        get
        {
            lock (_waiting)
            {
                return _readAsOf;
            }
        }
    }

    /// <summary>Gets since when reading the topic or looking up its ends keeps failing (no round completes meanwhile), or null.</summary>
    public DateTimeOffset? FailingSince
    {
        get
        {
            lock (_waiting)
            {
                return _failingSince;
            }
        }
    }

    public void Start()
    {
        // Until it reads the topic for the first time, the reader counts as failing (due messages wait meanwhile).
        Failing();
        _thread = new Thread(Run) { IsBackground = true, Name = $"reliablekafka-{_name}-cancellations" };
        _thread.Start();
    }

    public bool IsCancelled(string scheduleId)
    {
        lock (_cancelled)
        {
            return _cancelled.ContainsKey(scheduleId);
        }
    }

    /// <summary>Completes once every cancellation acknowledged before <paramref name="asOf"/> (this process's clock) has been read.</summary>
    public Task WaitUntilReadAsync(DateTimeOffset asOf, CancellationToken cancellationToken)
    {
        lock (_waiting)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _lastWaitTimestamp = _time.GetTimestamp();
            if (_readAsOf >= asOf)
            {
                return Task.CompletedTask;
            }

            var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var entry = (asOf, waiter);
            _waiting.Add(entry);
            if (cancellationToken.CanBeCanceled)
            {
                // A waiter whose record was given up (revoked, stopping) leaves the list at once.
                var registration = cancellationToken.Register(() =>
                {
                    lock (_waiting)
                    {
                        _waiting.Remove(entry);
                    }

                    waiter.TrySetCanceled(cancellationToken);
                });
                _ = waiter.Task.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            return waiter.Task;
        }
    }

    public void Dispose()
    {
        List<(DateTimeOffset AsOf, TaskCompletionSource Done)> waiting;
        lock (_waiting)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            waiting = [.. _waiting];
            _waiting.Clear();
        }

        // The thread may be in a call that waits for an unreachable cluster; it is a background thread that ends on its
        // own once that call returns, so the stop waits only briefly.
        _stop.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(2));
        foreach (var (_, done) in waiting)
        {
            done.TrySetException(new ObjectDisposedException(nameof(DelayCancellations)));
        }
    }

    private void Run()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                Read();
            }
            catch (Exception e) when (!_stop.IsCancellationRequested)
            {
                // Waiters keep waiting (their records are not delivered meanwhile); the reader starts over.
                try
                {
                    Failed(e);
                    _stop.Token.WaitHandle.WaitOne(RetryPause);
                }
                catch (Exception)
                {
                    // Logging failed (its providers disposed at the end of a shutdown): nothing may leave this thread.
                }
            }
            catch (Exception)
            {
                return; // stopping: whatever a call cut short by the stop threw (an exception must not leave this thread)
            }
        }
    }

    /// <summary>
    /// Records that reading fails (the health check reports it after a while) and logs it when it starts failing and
    /// once a minute while it goes on; reader thread.
    /// </summary>
    private void Failed(Exception error)
    {
        Failing();
        if (_loggedFailure == 0 || _time.GetElapsedTime(_loggedFailure) >= TimeSpan.FromMinutes(1))
        {
            _loggedFailure = _time.GetTimestamp();
            Log.DelayCancellationsFailed(_logger, _name, _topic, error);
        }
    }

    private void Read()
    {
        using var consumer = _clients.CreateConsumer(_settings, KafkaClientRole.DelayCancellationReader, _name, _cluster);
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var next = new Dictionary<TopicPartition, long>();
        AddNewPartitions(consumer, admin, next);

        Dictionary<TopicPartition, long>? ends = null;
        var roundStart = DateTimeOffset.MinValue;
        var roundStarted = 0L;
        var pruned = _time.GetTimestamp();
        while (!_stop.IsCancellationRequested)
        {
            if (ends is null && RoundWanted(roundStarted))
            {
                // The ends are looked up after the round's start: whatever was acknowledged before it is below them. The
                // partitions are looked up too, so that a cancellation in a partition added to the topic is not missed.
                roundStarted = _time.GetTimestamp();
                roundStart = _time.GetUtcNow();
                try
                {
                    AddNewPartitions(consumer, admin, next);
                    var latest = next.Keys.Select(p => new TopicPartitionOffsetSpec { TopicPartition = p, OffsetSpec = OffsetSpec.Latest() }).ToList();
                    var result = admin.ListOffsetsAsync(latest, new ListOffsetsOptions { RequestTimeout = QueryTimeout }).GetAwaiter().GetResult();
                    ends = result.ResultInfos.ToDictionary(r => r.TopicPartitionOffsetError.TopicPartition, r => r.TopicPartitionOffsetError.Offset.Value);
                }
                catch (KafkaException e) when (!_stop.IsCancellationRequested)
                {
                    // A leader moving, say: the round is tried again with the same reader and positions (waiters wait).
                    Failed(e);
                    _stop.Token.WaitHandle.WaitOne(RoundInterval);
                    continue;
                }
            }
            else if (ends is not null && _time.GetElapsedTime(roundStarted) > QueryTimeout)
            {
                // Reading up to the ends makes no progress (a partition without a leader, say): librdkafka keeps trying
                // without an error, so the health check is told here.
                Failed(new KafkaException(new Error(ErrorCode.Local_TimedOut, $"Reading the cancellation topic '{_topic}' up to its end offsets takes longer than {QueryTimeout.TotalSeconds:0} s.")));
            }

            var record = consumer.Consume(ends is null ? TimeSpan.FromMilliseconds(20) : TimeSpan.FromMilliseconds(5));
            if (record is not null)
            {
                next[record.TopicPartition] = record.Offset.Value + (record.IsPartitionEOF ? 0 : 1);
                if (!record.IsPartitionEOF)
                {
                    Apply(record);
                }
            }

            if (ends is not null && ends.Any(e => e.Value < next[e.Key]))
            {
                // The topic was truncated or recreated: read it again from its start.
                throw new KafkaException(new Error(ErrorCode.OffsetOutOfRange, $"The cancellation topic '{_topic}' ends before what was read of it; reading it again."));
            }

            if (ends is not null && ends.All(e => next[e.Key] >= e.Value || Empty(consumer, e.Key, e.Value)))
            {
                Completed(roundStart);
                ends = null;
            }

            if (_time.GetElapsedTime(pruned) > PruneInterval)
            {
                Prune();
                pruned = _time.GetTimestamp();
            }
        }
    }

    /// <summary>Assigns, from their start, the partitions of the topic not read yet.</summary>
    private void AddNewPartitions(IConsumer<byte[]?, byte[]?> consumer, IAdminClient admin, Dictionary<TopicPartition, long> next)
    {
        var topic = admin.GetMetadata(_topic, QueryTimeout).Topics.SingleOrDefault(t => t.Topic == _topic);
        if (topic is null || topic.Error.IsError || topic.Partitions.Count == 0)
        {
            throw new KafkaException(new Error(ErrorCode.UnknownTopicOrPart, $"The cancellation topic '{_topic}' does not exist ({topic?.Error.Reason})."));
        }

        var added = topic.Partitions.Select(p => new TopicPartition(_topic, p.PartitionId)).Where(p => !next.ContainsKey(p)).ToList();
        if (added.Count == 0)
        {
            return;
        }

        consumer.IncrementalAssign(added.Select(p => new TopicPartitionOffset(p, Offset.Beginning)));
        added.ForEach(p => next[p] = 0);
    }

    /// <summary>Whether a partition holds nothing to read below <paramref name="end"/> (all of it deleted or compacted away).</summary>
    private static bool Empty(IConsumer<byte[]?, byte[]?> consumer, TopicPartition partition, long end)
    {
        var marks = consumer.GetWatermarkOffsets(partition);
        return marks.Low.Value >= end && marks.Low != Offset.Unset;
    }

    private void Failing()
    {
        lock (_waiting)
        {
            _failingSince ??= _time.GetUtcNow();
        }
    }

    private bool RoundWanted(long lastRoundStarted)
    {
        lock (_waiting)
        {
            var due = lastRoundStarted == 0 || _time.GetElapsedTime(lastRoundStarted) >= RoundInterval;
            // Rounds also run while the reader counts as failing, so that it knows when it works again (health).
            return due && (_failingSince is not null || _waiting.Count > 0 || (_lastWaitTimestamp != 0 && _time.GetElapsedTime(_lastWaitTimestamp) < RoundsLinger));
        }
    }

    private void Completed(DateTimeOffset roundStart)
    {
        var done = new List<TaskCompletionSource>();
        lock (_waiting)
        {
            _readAsOf = roundStart;
            _failingSince = null;
            _loggedFailure = 0; // a new failure is logged at once
            _waiting.RemoveAll(w =>
            {
                if (w.AsOf > roundStart)
                {
                    return false;
                }

                done.Add(w.Done);
                return true;
            });
        }

        done.ForEach(d => d.TrySetResult());
    }

    private void Apply(ConsumeResult<byte[]?, byte[]?> record)
    {
        try
        {
            if (record.Message.Key is not { Length: > 0 } key)
            {
                return;
            }

            var id = Encoding.UTF8.GetString(key);
            if (record.Message.Value is null)
            {
                lock (_cancelled)
                {
                    _cancelled.Remove(id);
                }

                _expired.Remove(id); // its tombstone was written already
                return;
            }

            if (!ScheduleIds.TryParse(id, out var dueAt))
            {
                return;
            }

            if (Expiry(dueAt) <= _time.GetUtcNow())
            {
                _expired[id] = record.TopicPartition; // its tombstone may not have been written (every forwarder stopped before pruning it)
                return;
            }

            lock (_cancelled)
            {
                _cancelled[id] = (dueAt, record.TopicPartition);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A record this reader cannot make sense of is not a cancellation; it must not stop the others from being read.
            Log.DelayCancellationsFailed(_logger, _name, _topic, e);
        }
    }

    /// <summary>When a cancellation may be forgotten: <see cref="DelayedDeliveryOptions.CancellationRetention"/> after the due time (never, near the end of time).</summary>
    private DateTimeOffset Expiry(DateTimeOffset dueAt) => dueAt > DateTimeOffset.MaxValue - _retention ? DateTimeOffset.MaxValue : dueAt + _retention;

    private void Prune()
    {
        var now = _time.GetUtcNow();
        lock (_cancelled)
        {
            foreach (var (id, (dueAt, partition)) in _cancelled.Where(c => Expiry(c.Value.DueAt) <= now).ToList())
            {
                _cancelled.Remove(id);
                _expired[id] = partition;
            }
        }

        if (_expired.Count > 0)
        {
            _expire([.. _expired.Select(e => (e.Key, e.Value))]);
            _expired.Clear();
        }
    }
}
