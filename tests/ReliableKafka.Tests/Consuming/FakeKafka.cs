using System.Collections.Concurrent;
using System.Text;
using Confluent.Kafka;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Tests.Consuming;

/// <summary>
/// A scripted stand-in for a Kafka cluster and the one consumer the engine creates: partitions hold records,
/// rebalance events are delivered from inside Consume (as librdkafka delivers them), and commits are recorded
/// (and can be refused, as a whole or per partition). Every call the engine makes is appended to <see cref="Timeline"/>.
/// </summary>
/// <remarks>
/// It behaves like librdkafka where the engine depends on it: an application pause stays on a partition across
/// revocation, loss and a later assignment (librdkafka's RD_KAFKA_TOPPAR_F_APP_PAUSE survives unassign/assign; only
/// its internal pause is reset), and commit results come back sorted by topic and partition, whatever the order of
/// the request, with an error per partition.
/// </remarks>
internal sealed class FakeKafka
{
    private readonly object _gate = new();
    private readonly Dictionary<TopicPartition, List<string?>> _keys = [];
    private readonly Dictionary<TopicPartitionOffset, Headers> _headers = [];
    private readonly Dictionary<TopicPartition, List<(long From, long To)>> _compacted = [];
    private readonly Dictionary<TopicPartition, long> _committed = [];
    private readonly Dictionary<TopicPartition, string?> _metadata = [];
    private readonly List<string> _timeline = [];

    public ConcurrentQueue<Action<FakeConsumer>> Events { get; } = new();

    /// <summary>Gets or sets a rule that refuses a commit by returning an error (checked on every commit).</summary>
    public Func<IReadOnlyList<OffsetCommit>, Error?>? RefuseCommit { get; set; }

    /// <summary>Gets or sets how long leaving the group takes after the revocation (Close).</summary>
    public TimeSpan CloseLatency { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Gets or sets how long the coordinator takes to answer a commit (zero: at once).</summary>
    public TimeSpan CommitLatency { get; set; }

    /// <summary>Gets or sets a rule that refuses one partition's part of a commit (the others are committed).</summary>
    public Func<OffsetCommit, ErrorCode?>? RefusePartition { get; set; }

    /// <summary>Gets or sets how many reads of committed offsets fail from now on (poll thread).</summary>
    public int FailCommittedReads { get; set; }

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

    /// <summary>Appends records; <paramref name="key"/> gives each new offset's key (default: one key per partition, null for no key).</summary>
    public void AddRecords(TopicPartition partition, int count, Func<long, string?>? key = null)
    {
        lock (_gate)
        {
            if (!_keys.TryGetValue(partition, out var keys))
            {
                _keys[partition] = keys = [];
            }

            for (var i = 0; i < count; i++)
            {
                keys.Add(key is null ? $"key-{partition.Partition.Value}" : key(keys.Count));
            }
        }
    }

    /// <summary>Sets the headers of the record at an offset (records have empty headers otherwise).</summary>
    public void SetHeaders(TopicPartition partition, long offset, Headers headers)
    {
        lock (_gate)
        {
            _headers[new TopicPartitionOffset(partition, offset)] = headers;
        }
    }

    /// <summary>Removes the records in [<paramref name="from"/>, <paramref name="to"/>) as compaction would: their offsets are never returned.</summary>
    public void Compact(TopicPartition partition, long from, long to)
    {
        lock (_gate)
        {
            if (!_compacted.TryGetValue(partition, out var ranges))
            {
                _compacted[partition] = ranges = [];
            }

            ranges.Add((from, to));
        }
    }

    /// <summary>The first offset at or after <paramref name="offset"/> that compaction kept.</summary>
    public long Kept(TopicPartition partition, long offset)
    {
        lock (_gate)
        {
            foreach (var (from, to) in _compacted.GetValueOrDefault(partition) ?? [])
            {
                if (offset >= from && offset < to)
                {
                    offset = to;
                }
            }

            return offset;
        }
    }

    public Headers HeadersAt(TopicPartition partition, long offset)
    {
        lock (_gate)
        {
            return _headers.TryGetValue(new TopicPartitionOffset(partition, offset), out var headers) ? headers : [];
        }
    }

    public long EndOffset(TopicPartition partition)
    {
        lock (_gate)
        {
            return _keys.TryGetValue(partition, out var keys) ? keys.Count : 0;
        }
    }

    public string? KeyAt(TopicPartition partition, long offset)
    {
        lock (_gate)
        {
            return _keys[partition][(int)offset];
        }
    }

    public string? CommittedMetadata(TopicPartition partition)
    {
        lock (_gate)
        {
            return _metadata.GetValueOrDefault(partition);
        }
    }

    /// <summary>Sets a committed offset and metadata, as a previous owner of the group would have left them.</summary>
    public void SetCommitted(TopicPartition partition, long offset, string? metadata)
    {
        lock (_gate)
        {
            _committed[partition] = offset;
            _metadata[partition] = metadata;
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

    internal void Commit(IReadOnlyList<OffsetCommit> offsets)
    {
        if (RefuseCommit?.Invoke(offsets) is { } error)
        {
            Record($"commit refused {Describe(offsets)}");
            throw new KafkaException(error);
        }

        // librdkafka sorts the request by topic and partition and returns the sorted list.
        var results = new List<TopicPartitionOffsetError>();
        var refused = false;
        lock (_gate)
        {
            foreach (var offset in offsets.OrderBy(o => o.Partition.Topic, StringComparer.Ordinal).ThenBy(o => o.Partition.Partition.Value))
            {
                var code = RefusePartition?.Invoke(offset) ?? ErrorCode.NoError;
                results.Add(new TopicPartitionOffsetError(offset.Partition, offset.Offset, new Error(code)));
                if (code != ErrorCode.NoError)
                {
                    refused = true;
                    continue;
                }

                _committed[offset.Partition] = offset.Offset;
                _metadata[offset.Partition] = offset.Metadata;
            }

            var accepted = offsets.Where(o => results.Single(r => r.TopicPartition == o.Partition).Error.Code == ErrorCode.NoError).ToList();
            _timeline.Add(refused ? $"commit {Describe(accepted)} refused {Describe(offsets.Except(accepted))}" : $"commit {Describe(offsets)}");
        }

        if (refused)
        {
            // Like librdkafka: the request's error is the last partition error, and it is reported on every partition
            // that had none of its own (although the broker committed those).
            var requestError = results.Last(r => r.Error.IsError).Error;
            throw new TopicPartitionOffsetException([.. results.Select(r => r.Error.IsError ? r : new TopicPartitionOffsetError(r.TopicPartitionOffset, requestError))]);
        }
    }

    internal static string Describe(IEnumerable<OffsetCommit> offsets) =>
        string.Join(", ", offsets.Select(o => $"{o.Partition.Partition.Value}@{o.Offset}"));
}

/// <summary>The group's offsets and metadata, kept by the fake cluster.</summary>
internal sealed class FakeGroupOffsetStore(FakeKafka kafka) : IGroupOffsetStore
{
    public void Commit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets, TimeSpan timeout)
    {
        if (kafka.CommitLatency > TimeSpan.Zero)
        {
            if (kafka.CommitLatency > timeout)
            {
                Thread.Sleep(timeout);
                throw new KafkaException(new Error(ErrorCode.Local_TimedOut, "commit timed out (fake)"));
            }

            Thread.Sleep(kafka.CommitLatency);
        }

        kafka.Commit(offsets);
    }

    /// <summary>A commit whose result arrives after <see cref="FakeKafka.CommitLatency"/>; it takes effect then.</summary>
    public IPendingCommit BeginCommit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets)
    {
        kafka.Record($"commit sent {FakeKafka.Describe(offsets)}");
        return new Pending(kafka, offsets, Environment.TickCount64 + (long)kafka.CommitLatency.TotalMilliseconds);
    }

    private sealed class Pending(FakeKafka kafka, IReadOnlyList<OffsetCommit> offsets, long due) : IPendingCommit
    {
        private bool _done;

        public IReadOnlyList<OffsetCommit> Offsets => offsets;

        public bool TryComplete()
        {
            if (_done)
            {
                return true;
            }

            if (Environment.TickCount64 < due)
            {
                return false;
            }

            _done = true;
            kafka.Commit(offsets);
            return true;
        }

        public bool Wait(TimeSpan timeout)
        {
            var wait = due - Environment.TickCount64;
            if (wait > timeout.TotalMilliseconds)
            {
                Thread.Sleep(timeout);
                return false;
            }

            if (wait > 0)
            {
                Thread.Sleep((int)wait);
            }

            return TryComplete();
        }

        public void Dispose()
        {
        }
    }

    public IReadOnlyList<CommittedOffset> ReadCommitted(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<TopicPartition> partitions, TimeSpan timeout)
    {
        if (kafka.FailCommittedReads > 0)
        {
            kafka.FailCommittedReads--;
            kafka.Record("read committed failed");
            throw new KafkaException(new Error(ErrorCode.GroupAuthorizationFailed, "reading committed offsets failed (fake)"));
        }

        return [.. partitions.Select(p => new CommittedOffset(p, kafka.Committed(p) ?? Offset.Unset.Value, kafka.CommittedMetadata(p)))];
    }
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
            var position = kafka.Kept(partition, _positions[partition]);
            if (!_paused.Contains(partition) && position < kafka.EndOffset(partition))
            {
                _next = (_next + i + 1) % _assignment.Count;
                _positions[partition] = position + 1;
                return new ConsumeResult<byte[]?, byte[]?>
                {
                    TopicPartitionOffset = new TopicPartitionOffset(partition, position),
                    Message = new Message<byte[]?, byte[]?>
                    {
                        Key = kafka.KeyAt(partition, position) is { } key ? Encoding.UTF8.GetBytes(key) : null,
                        Value = Encoding.UTF8.GetBytes($"{partition.Partition.Value}:{position}"),
                        Headers = kafka.HeadersAt(partition, position),
                        // Retry topics' records are held until their time, capped by their timestamp plus the backoff.
                        Timestamp = new Timestamp(partition.Topic.Contains(RetryTopicOptions.TopicInfix, StringComparison.Ordinal) ? DateTime.UtcNow : DateTime.UnixEpoch, TimestampType.CreateTime),
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

    public void Commit(IEnumerable<TopicPartitionOffset> offsets) => throw new NotSupportedException("The engine commits through its offset store.");

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

        // Leaving the group takes a round trip after the revocation.
        Thread.Sleep(kafka.CloseLatency);
        kafka.Record("closed");
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

    /// <summary>Unassigns; like librdkafka, an application pause stays on the partition (a later assignment finds it paused).</summary>
    private void Forget(TopicPartition[] partitions) => _assignment.RemoveAll(partitions.Contains);

    /// <summary>Gets whether the application paused a partition (kept across reassignment, as in librdkafka).</summary>
    internal bool IsPaused(TopicPartition partition) => _paused.Contains(partition);

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

    /// <summary>The watermarks librdkafka last learned from a fetch: here, the partition's current ones.</summary>
    public WatermarkOffsets GetWatermarkOffsets(TopicPartition topicPartition) => new(0, kafka.EndOffset(topicPartition));

    public WatermarkOffsets QueryWatermarkOffsets(TopicPartition topicPartition, TimeSpan timeout) => throw new NotSupportedException();

    public int AddBrokers(string brokers) => throw new NotSupportedException();

    public void SetSaslCredentials(string username, string password) => throw new NotSupportedException();
}
