using System.Collections.Concurrent;
using System.Text;
using Confluent.Kafka;

namespace ReliableKafka.Tests.Consuming;

/// <summary>
/// A scripted stand-in for a Kafka cluster and the one consumer the engine creates: partitions hold records,
/// rebalance events are delivered from inside Consume (as librdkafka delivers them), and commits are recorded
/// (and can be refused). Every call the engine makes is appended to <see cref="Timeline"/>.
/// </summary>
internal sealed class FakeKafka
{
    private readonly object _gate = new();
    private readonly Dictionary<TopicPartition, long> _endOffsets = [];
    private readonly Dictionary<TopicPartition, long> _committed = [];
    private readonly List<string> _timeline = [];

    public ConcurrentQueue<Action<FakeConsumer>> Events { get; } = new();

    /// <summary>Gets or sets a rule that refuses a commit by returning an error (checked on every commit).</summary>
    public Func<IReadOnlyList<TopicPartitionOffset>, Error?>? RefuseCommit { get; set; }

    public int ConsumeCalls;

    public IReadOnlyList<string> Timeline
    {
        get
        {
            lock (_gate)
            {
                return [.. _timeline];
            }
        }
    }

    public void AddRecords(TopicPartition partition, int count)
    {
        lock (_gate)
        {
            _endOffsets[partition] = _endOffsets.GetValueOrDefault(partition) + count;
        }
    }

    public long EndOffset(TopicPartition partition)
    {
        lock (_gate)
        {
            return _endOffsets.GetValueOrDefault(partition);
        }
    }

    public long? Committed(TopicPartition partition)
    {
        lock (_gate)
        {
            return _committed.TryGetValue(partition, out var offset) ? offset : null;
        }
    }

    public void Assign(params TopicPartition[] partitions) => Events.Enqueue(c => c.DeliverAssign(partitions));

    public void Revoke(params TopicPartition[] partitions) => Events.Enqueue(c => c.DeliverRevoke(partitions));

    public void Lose(params TopicPartition[] partitions) => Events.Enqueue(c => c.DeliverLost(partitions));

    internal void Record(string entry)
    {
        lock (_gate)
        {
            _timeline.Add(entry);
        }
    }

    internal void Commit(IReadOnlyList<TopicPartitionOffset> offsets)
    {
        if (RefuseCommit?.Invoke(offsets) is { } error)
        {
            Record($"commit refused {Describe(offsets)}");
            throw new KafkaException(error);
        }

        lock (_gate)
        {
            foreach (var offset in offsets)
            {
                _committed[offset.TopicPartition] = offset.Offset.Value;
            }

            _timeline.Add($"commit {Describe(offsets)}");
        }
    }

    internal static string Describe(IEnumerable<TopicPartitionOffset> offsets) =>
        string.Join(", ", offsets.Select(o => $"{o.Partition.Value}@{o.Offset.Value}"));
}

/// <summary>Builds the fake consumer with the handlers the engine configured.</summary>
internal sealed class FakeConsumerBuilder(FakeKafka kafka, IEnumerable<KeyValuePair<string, string>> config)
    : ConsumerBuilder<byte[]?, byte[]?>(config)
{
    public override IConsumer<byte[]?, byte[]?> Build() =>
        new FakeConsumer(kafka, PartitionsAssignedHandler, PartitionsRevokedHandler, PartitionsLostHandler);
}

internal sealed class FakeConsumer(
    FakeKafka kafka,
    Func<IConsumer<byte[]?, byte[]?>, List<TopicPartition>, IEnumerable<TopicPartitionOffset>>? assigned,
    Func<IConsumer<byte[]?, byte[]?>, List<TopicPartitionOffset>, IEnumerable<TopicPartitionOffset>>? revoked,
    Func<IConsumer<byte[]?, byte[]?>, List<TopicPartitionOffset>, IEnumerable<TopicPartitionOffset>>? lost)
    : IConsumer<byte[]?, byte[]?>
{
    private readonly List<TopicPartition> _assignment = [];
    private readonly HashSet<TopicPartition> _paused = [];
    private readonly Dictionary<TopicPartition, long> _positions = [];
    private int _next;

    public string Name => "fake";

    public string MemberId => "fake-member";

    public List<TopicPartition> Assignment => [.. _assignment];

    public List<string> Subscription { get; private set; } = [];

    public Handle Handle => throw new NotSupportedException();

    public IConsumerGroupMetadata ConsumerGroupMetadata => throw new NotSupportedException();

    public ConsumeResult<byte[]?, byte[]?>? Consume(TimeSpan timeout)
    {
        Interlocked.Increment(ref kafka.ConsumeCalls);
        while (kafka.Events.TryDequeue(out var deliver))
        {
            deliver(this);
        }

        for (var i = 0; i < _assignment.Count; i++)
        {
            var partition = _assignment[(_next + i) % _assignment.Count];
            var position = _positions[partition];
            if (!_paused.Contains(partition) && position < kafka.EndOffset(partition))
            {
                _next = (_next + i + 1) % _assignment.Count;
                _positions[partition] = position + 1;
                return new ConsumeResult<byte[]?, byte[]?>
                {
                    TopicPartitionOffset = new TopicPartitionOffset(partition, position),
                    Message = new Message<byte[]?, byte[]?>
                    {
                        Key = Encoding.UTF8.GetBytes($"key-{partition.Partition.Value}"),
                        Value = Encoding.UTF8.GetBytes($"{partition.Partition.Value}:{position}"),
                        Headers = [],
                        Timestamp = new Timestamp(DateTime.UnixEpoch, TimestampType.CreateTime),
                    },
                };
            }
        }

        Thread.Sleep(timeout < TimeSpan.FromMilliseconds(2) ? timeout : TimeSpan.FromMilliseconds(2));
        return null;
    }

    public ConsumeResult<byte[]?, byte[]?>? Consume(int millisecondsTimeout) => Consume(TimeSpan.FromMilliseconds(millisecondsTimeout));

    public ConsumeResult<byte[]?, byte[]?> Consume(CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public void Subscribe(IEnumerable<string> topics) => Subscription = [.. topics];

    public void Subscribe(string topic) => Subscription = [topic];

    public void Unsubscribe() => Subscription = [];

    public void Commit(IEnumerable<TopicPartitionOffset> offsets) => kafka.Commit([.. offsets]);

    public void Pause(IEnumerable<TopicPartition> partitions)
    {
        var list = partitions.ToList();
        _paused.UnionWith(list);
        kafka.Record($"pause {string.Join(", ", list.Select(p => p.Partition.Value))}");
    }

    public void Resume(IEnumerable<TopicPartition> partitions)
    {
        var list = partitions.ToList();
        _paused.ExceptWith(list);
        kafka.Record($"resume {string.Join(", ", list.Select(p => p.Partition.Value))}");
    }

    public void Seek(TopicPartitionOffset tpo)
    {
        _positions[tpo.TopicPartition] = tpo.Offset.Value;
        kafka.Record($"seek {tpo.Partition.Value}@{tpo.Offset.Value}");
    }

    public void Close()
    {
        kafka.Record("close");
        DeliverRevoke([.. _assignment]);
    }

    public void Dispose() => kafka.Record("dispose");

    internal void DeliverAssign(TopicPartition[] partitions)
    {
        foreach (var partition in partitions)
        {
            _assignment.Add(partition);
            _positions[partition] = kafka.Committed(partition) ?? 0;
        }

        assigned?.Invoke(this, [.. partitions]);
        kafka.Record($"assigned {string.Join(", ", partitions.Select(p => p.Partition.Value))}");
    }

    internal void DeliverRevoke(TopicPartition[] partitions)
    {
        kafka.Record($"revoke begin {string.Join(", ", partitions.Select(p => p.Partition.Value))}");
        revoked?.Invoke(this, [.. partitions.Select(p => new TopicPartitionOffset(p, Offset.Unset))]);
        Forget(partitions);
        kafka.Record($"revoke end {string.Join(", ", partitions.Select(p => p.Partition.Value))}");
    }

    internal void DeliverLost(TopicPartition[] partitions)
    {
        kafka.Record($"lost {string.Join(", ", partitions.Select(p => p.Partition.Value))}");
        lost?.Invoke(this, [.. partitions.Select(p => new TopicPartitionOffset(p, Offset.Unset))]);
        Forget(partitions);
    }

    private void Forget(TopicPartition[] partitions)
    {
        _assignment.RemoveAll(partitions.Contains);
        _paused.ExceptWith(partitions);
    }

    public void Assign(TopicPartition partition) => throw new NotSupportedException();

    public void Assign(TopicPartitionOffset partition) => throw new NotSupportedException();

    public void Assign(IEnumerable<TopicPartitionOffset> partitions) => throw new NotSupportedException();

    public void Assign(IEnumerable<TopicPartition> partitions) => throw new NotSupportedException();

    public void IncrementalAssign(IEnumerable<TopicPartitionOffset> partitions) => throw new NotSupportedException();

    public void IncrementalAssign(IEnumerable<TopicPartition> partitions) => throw new NotSupportedException();

    public void IncrementalUnassign(IEnumerable<TopicPartition> partitions) => throw new NotSupportedException();

    public void Unassign() => throw new NotSupportedException();

    public void StoreOffset(ConsumeResult<byte[]?, byte[]?> result) => throw new NotSupportedException();

    public void StoreOffset(TopicPartitionOffset offset) => throw new NotSupportedException();

    public List<TopicPartitionOffset> Commit() => throw new NotSupportedException();

    public void Commit(ConsumeResult<byte[]?, byte[]?> result) => throw new NotSupportedException();

    public List<TopicPartitionOffset> Committed(TimeSpan timeout) => throw new NotSupportedException();

    public List<TopicPartitionOffset> Committed(IEnumerable<TopicPartition> partitions, TimeSpan timeout) => throw new NotSupportedException();

    public Offset Position(TopicPartition partition) => throw new NotSupportedException();

    public List<TopicPartitionOffset> OffsetsForTimes(IEnumerable<TopicPartitionTimestamp> timestampsToSearch, TimeSpan timeout) => throw new NotSupportedException();

    public WatermarkOffsets GetWatermarkOffsets(TopicPartition topicPartition) => throw new NotSupportedException();

    public WatermarkOffsets QueryWatermarkOffsets(TopicPartition topicPartition, TimeSpan timeout) => throw new NotSupportedException();

    public int AddBrokers(string brokers) => throw new NotSupportedException();

    public void SetSaslCredentials(string username, string password) => throw new NotSupportedException();
}
