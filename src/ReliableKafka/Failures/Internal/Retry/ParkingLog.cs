using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Failures.Internal.Retry;

/// <summary>
/// The parking topic of a consumer group (<see cref="RetryTopicOptions.ParkingTopic"/>, compacted): a record that held a
/// key parked (<see cref="ReliableKafkaHeaders.RetryParkedIn"/>) tells each partition that parked it, once it was handled
/// or dead-lettered, with a record keyed by group, partition and key hash whose value is its offset there. Every member
/// reads the whole topic on a thread of its own and releases the keys of its partitions whose last record sent on is at or
/// before that offset (<see cref="ParkedKeys.Release"/>); the highest offset read per key also releases keys a new
/// assignment restores from commit metadata (a release written late, by a member that was let go, is never taken for a
/// newer one).
/// </summary>
internal sealed class ParkingLog : IDisposable
{
    private static readonly TimeSpan MetadataTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PartitionCheckInterval = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxPause = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RecoveredAfter = TimeSpan.FromSeconds(3);

    private readonly string _topic;
    private readonly string _keyPrefix;
    private readonly IEnumerable<KeyValuePair<string, string>> _readerSettings;
    private readonly Func<IEnumerable<KeyValuePair<string, string>>, IConsumer<byte[]?, byte[]?>> _createReader;
    private readonly IDeadLetterWriter _writer;
    private readonly string _consumerName;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();

    // What was read: the highest offset released per parking key (partition and key hash); any thread.
    private readonly ConcurrentDictionary<string, long> _released = new(StringComparer.Ordinal);

    // The parked keys of this member's partitions (the current assignment of each).
    private readonly ConcurrentDictionary<TopicPartition, ParkedKeys> _partitions = new();
    private readonly object _failureGate = new();
    private DateTimeOffset? _failingSince;
    private DateTimeOffset _lastLogged = DateTimeOffset.MinValue;
    private long _lastFailure;
    private Thread? _thread;
    private readonly FailingCount _releasesFailing = new();

    public ParkingLog(
        string topic,
        string groupId,
        IEnumerable<KeyValuePair<string, string>> readerSettings,
        Func<IEnumerable<KeyValuePair<string, string>>, IConsumer<byte[]?, byte[]?>> createReader,
        IDeadLetterWriter writer,
        string consumerName,
        ILogger logger,
        TimeProvider time)
    {
        _topic = topic;
        _keyPrefix = groupId + "/";
        _readerSettings = readerSettings;
        _createReader = createReader;
        _writer = writer;
        _consumerName = consumerName;
        _logger = logger;
        _time = time;
    }

    /// <summary>Gets the parking topic.</summary>
    public string Topic => _topic;

    /// <summary>Gets since when the parking topic cannot be read (parked keys are not released meanwhile), or null.</summary>
    public DateTimeOffset? FailingSince
    {
        get
        {
            lock (_failureGate)
            {
                return _failingSince;
            }
        }
    }

    /// <summary>Gets how many records wait for their release to be written (the parking topic cannot be written to).</summary>
    public int ReleasesFailing => _releasesFailing.Value;

    /// <summary>The parking key of a key parked on a partition: <c>group/topic:partition:hash</c> (hash in hexadecimal).</summary>
    public string KeyOf(TopicPartition partition, ulong hash) =>
        string.Create(CultureInfo.InvariantCulture, $"{_keyPrefix}{partition.Topic}:{partition.Partition.Value}:{hash:x16}");

    /// <summary>Starts reading the topic.</summary>
    public void Start()
    {
        lock (_failureGate)
        {
            // Until it read the topic's partitions once, nothing it should have released was.
            _failingSince = _time.GetUtcNow();
            _lastFailure = _time.GetTimestamp();
        }

        _thread = new Thread(Run) { IsBackground = true, Name = $"reliablekafka-{_consumerName}-parking" };
        _thread.Start();
    }

    /// <summary>
    /// Watches a newly assigned partition's parked keys (restored from its commit metadata): those whose release was read
    /// already are released at once, the others when it is.
    /// </summary>
    public void Track(TopicPartition partition, ParkedKeys parked)
    {
        _partitions[partition] = parked;
        foreach (var (hash, last) in parked.Snapshot())
        {
            if (_released.TryGetValue(KeyOf(partition, hash), out var released) && released >= last)
            {
                parked.Release(hash, last);
            }
        }
    }

    /// <summary>Stops watching a partition this member let go.</summary>
    public void Untrack(TopicPartition partition, ParkedKeys parked) => _partitions.TryRemove(new KeyValuePair<TopicPartition, ParkedKeys>(partition, parked));

    /// <summary>
    /// Tells each partition that parked the record's key on its account that the record is done, and waits until every
    /// release is acknowledged, trying again with growing pauses (a partition of this member is released at once too).
    /// Throws only when <paramref name="cancellationToken"/> fires: the record then stays unfinished, for its next owner.
    /// </summary>
    public async Task ReleaseAsync(IReadOnlyList<ParkedPlace> places, ulong hash, CancellationToken cancellationToken)
    {
        var pending = places.ToList();
        await _releasesFailing.UntilItWorksAsync(
            async token =>
            {
                token.ThrowIfCancellationRequested();
                var sends = pending.Select(place => _writer.SendAsync(
                    new TopicPartition(_topic, Partition.Any),
                    new Message<byte[]?, byte[]?>
                    {
                        Key = Encoding.UTF8.GetBytes(KeyOf(place.TopicPartition, hash)),
                        Value = Encoding.UTF8.GetBytes(place.Offset.ToString(CultureInfo.InvariantCulture)),
                    },
                    token)).ToList();
                try
                {
                    await Task.WhenAll(sends).ConfigureAwait(false);
                }
                finally
                {
                    // What was acknowledged is not written again.
                    for (var i = sends.Count - 1; i >= 0; i--)
                    {
                        if (sends[i].IsCompletedSuccessfully)
                        {
                            pending.RemoveAt(i);
                        }
                    }
                }
            },
            FirstPause,
            MaxPause,
            _time,
            (e, pause) => Log.ParkingWriteFailed(_logger, _consumerName, _topic, (long)pause.TotalMilliseconds, e.Message),
            cancellationToken).ConfigureAwait(false);

        foreach (var place in places)
        {
            if (_partitions.TryGetValue(place.TopicPartition, out var parked))
            {
                parked.Release(hash, place.Offset);
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        if (_thread is { } thread && thread != Thread.CurrentThread)
        {
            thread.Join(TimeSpan.FromSeconds(2));
        }
    }

    private void Run()
    {
        var attempt = 0;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                Read(ref attempt);
            }
            catch (Exception e) when (!_stop.IsCancellationRequested)
            {
                Failing(e);
                _stop.Token.WaitHandle.WaitOne(Backoffs.Delay(FirstPause, MaxPause, attempt++));
            }
            catch (Exception)
            {
                // Stopping: whatever the client throws while it is torn down is no news.
            }
        }
    }

    /// <summary>Reads every partition of the topic from its start, and new partitions as they appear, until stopped.</summary>
    private void Read(ref int attempt)
    {
        using var consumer = _createReader(_readerSettings);
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var assigned = new HashSet<int>();
        long? lastCheck = null;
        while (!_stop.IsCancellationRequested)
        {
            if (lastCheck is not { } checkedAt || _time.GetElapsedTime(checkedAt) >= PartitionCheckInterval)
            {
                var metadata = admin.GetMetadata(_topic, MetadataTimeout).Topics.Single();
                if (metadata.Error.IsError || metadata.Partitions.Count == 0)
                {
                    throw new KafkaException(metadata.Error.IsError ? metadata.Error : new Error(ErrorCode.UnknownTopicOrPart, $"The topic {_topic} has no partitions."));
                }

                var added = metadata.Partitions.Select(p => p.PartitionId).Where(assigned.Add).ToList();
                if (added.Count > 0)
                {
                    consumer.IncrementalAssign(added.Select(p => new TopicPartitionOffset(_topic, p, Offset.Beginning)));
                }

                lastCheck = _time.GetTimestamp();
                attempt = 0;
            }

            // Reading works once a while passed without an error (librdkafka reports a lasting one now and then, not on every call).
            if (_time.GetElapsedTime(Volatile.Read(ref _lastFailure)) >= RecoveredAfter)
            {
                Recovered();
            }

            ConsumeResult<byte[]?, byte[]?>? record;
            try
            {
                record = consumer.Consume(TimeSpan.FromMilliseconds(200));
            }
            catch (ConsumeException e) when (!e.Error.IsFatal)
            {
                Failing(e);
                continue;
            }

            if (record is { IsPartitionEOF: false, Message: { Key: { } key, Value: { } value } })
            {
                Apply(key, value);
            }
        }
    }

    /// <summary>Remembers a release and releases the key if it is parked on a partition of this member at that offset.</summary>
    private void Apply(byte[] key, byte[] value)
    {
        var text = Encoding.UTF8.GetString(key);
        if (!text.StartsWith(_keyPrefix, StringComparison.Ordinal)
            || !long.TryParse(Encoding.UTF8.GetString(value), NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
        {
            return; // another group's (a shared parking topic), or not a release
        }

        _released.AddOrUpdate(text, offset, (_, known) => Math.Max(known, offset));
        text = text[_keyPrefix.Length..];
        var hashAt = text.LastIndexOf(':');
        var partitionAt = hashAt > 0 ? text.LastIndexOf(':', hashAt - 1) : -1;
        if (partitionAt > 0
            && int.TryParse(text.AsSpan(partitionAt + 1, hashAt - partitionAt - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var partition)
            && ulong.TryParse(text.AsSpan(hashAt + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hash)
            && _partitions.TryGetValue(new TopicPartition(text[..partitionAt], partition), out var parked))
        {
            parked.Release(hash, offset);
        }
    }

    private void Failing(Exception e)
    {
        Volatile.Write(ref _lastFailure, _time.GetTimestamp());
        var now = _time.GetUtcNow();
        lock (_failureGate)
        {
            _failingSince ??= now;
            if (now - _lastLogged < TimeSpan.FromMinutes(1))
            {
                return; // a lasting failure is logged once a minute
            }

            _lastLogged = now;
        }

        Log.ParkingReadFailed(_logger, _consumerName, _topic, e);
    }

    private void Recovered()
    {
        lock (_failureGate)
        {
            _failingSince = null;
        }
    }
}
