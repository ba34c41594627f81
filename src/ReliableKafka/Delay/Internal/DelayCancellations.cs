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
    private readonly Dictionary<string, DateTimeOffset> _cancelled = new(StringComparer.Ordinal);
    private readonly List<(DateTimeOffset AsOf, TaskCompletionSource Done)> _waiting = [];
    private readonly CancellationTokenSource _stop = new();
    private DateTimeOffset _readAsOf = DateTimeOffset.MinValue;
    private long _lastWaitTimestamp;
    private Thread? _thread;
    private bool _disposed;

    public DelayCancellations(
        IEnumerable<KeyValuePair<string, string>> settings, string topic, string name, string? cluster, TimeSpan retention, TimeProvider time, KafkaClientFactory clients, ILogger logger)
    {
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

    public void Start()
    {
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
            _waiting.Add((asOf, waiter));
            return waiter.Task.WaitAsync(cancellationToken);
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

        _stop.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(10));
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
                Log.DelayCancellationsFailed(_logger, _name, _topic, e);
                _stop.Token.WaitHandle.WaitOne(RetryPause);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Read()
    {
        using var consumer = _clients.CreateConsumer(_settings, KafkaClientRole.DelayCancellationReader, _name, _cluster);
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var topic = admin.GetMetadata(_topic, QueryTimeout).Topics.SingleOrDefault(t => t.Topic == _topic);
        if (topic is null || topic.Error.IsError || topic.Partitions.Count == 0)
        {
            throw new KafkaException(new Error(ErrorCode.UnknownTopicOrPart, $"The cancellation topic '{_topic}' does not exist ({topic?.Error.Reason})."));
        }

        var partitions = topic.Partitions.Select(p => new TopicPartition(_topic, p.PartitionId)).ToList();
        consumer.Assign(partitions.Select(p => new TopicPartitionOffset(p, Offset.Beginning)));
        var next = partitions.ToDictionary(p => p, _ => 0L);
        var latest = partitions.Select(p => new TopicPartitionOffsetSpec { TopicPartition = p, OffsetSpec = OffsetSpec.Latest() }).ToList();
        Dictionary<TopicPartition, long>? ends = null;
        var roundStart = DateTimeOffset.MinValue;
        var roundStarted = 0L;
        var pruned = _time.GetTimestamp();
        while (!_stop.IsCancellationRequested)
        {
            if (ends is null && RoundWanted(roundStarted))
            {
                // The ends are looked up after the round's start: whatever was acknowledged before it is below them.
                roundStarted = _time.GetTimestamp();
                roundStart = _time.GetUtcNow();
                var result = admin.ListOffsetsAsync(latest, new ListOffsetsOptions { RequestTimeout = QueryTimeout }).GetAwaiter().GetResult();
                ends = result.ResultInfos.ToDictionary(r => r.TopicPartitionOffsetError.TopicPartition, r => r.TopicPartitionOffsetError.Offset.Value);
            }

            var record = consumer.Consume(ends is null ? TimeSpan.FromMilliseconds(20) : TimeSpan.FromMilliseconds(5));
            if (record is not null)
            {
                next[record.TopicPartition] = record.Offset.Value + (record.IsPartitionEOF ? 0 : 1);
                if (!record.IsPartitionEOF)
                {
                    Apply(record.Message);
                }
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

    /// <summary>Whether a partition holds nothing to read below <paramref name="end"/> (all of it deleted or compacted away).</summary>
    private static bool Empty(IConsumer<byte[]?, byte[]?> consumer, TopicPartition partition, long end)
    {
        var marks = consumer.GetWatermarkOffsets(partition);
        return marks.Low.Value >= end && marks.Low != Offset.Unset;
    }

    private bool RoundWanted(long lastRoundStarted)
    {
        lock (_waiting)
        {
            var due = lastRoundStarted == 0 || _time.GetElapsedTime(lastRoundStarted) >= RoundInterval;
            return due && (_waiting.Count > 0 || (_lastWaitTimestamp != 0 && _time.GetElapsedTime(_lastWaitTimestamp) < RoundsLinger));
        }
    }

    private void Completed(DateTimeOffset roundStart)
    {
        var done = new List<TaskCompletionSource>();
        lock (_waiting)
        {
            _readAsOf = roundStart;
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

    private void Apply(Message<byte[]?, byte[]?> message)
    {
        if (message.Key is not { Length: > 0 } key)
        {
            return;
        }

        var id = Encoding.UTF8.GetString(key);
        lock (_cancelled)
        {
            if (message.Value is null)
            {
                _cancelled.Remove(id);
            }
            else if (ScheduleIds.TryParse(id, out var dueAt) && dueAt + _retention > _time.GetUtcNow())
            {
                _cancelled[id] = dueAt;
            }
        }
    }

    private void Prune()
    {
        var now = _time.GetUtcNow();
        lock (_cancelled)
        {
            foreach (var (id, dueAt) in _cancelled.Where(c => c.Value + _retention <= now).ToList())
            {
                _cancelled.Remove(id);
            }
        }
    }
}
