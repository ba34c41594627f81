using System.Globalization;
using System.Text;
using Confluent.Kafka;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Failures.Internal.Retry;

using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Failures.Internal;

/// <summary>
/// Writes a consumer's failed records with its own idempotent acks=all producer, created on the first failure
/// (most consumers never need it).
/// </summary>
internal sealed class DeadLetterWriter : IDeadLetterWriter
{
    /// <summary>The prefix of the diagnostic headers (<see cref="ReliableKafkaHeaders"/>).</summary>
    public const string HeaderPrefix = "reliablekafka-dlt-";

    // How long disposal waits for the delivery reports of purged writes (they come at once; a poll cycle at most).
    private static readonly TimeSpan PurgeReportTimeout = TimeSpan.FromSeconds(1);

    // How long reading the dead-letter topic may take before the look-up counts as failed (and is tried again).
    private static readonly TimeSpan LookupTimeout = TimeSpan.FromMinutes(2);

    private readonly DeadLetterOptions _options;
    private readonly string _groupId;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly KafkaClientConfig _producerConfig;
    private readonly KafkaClientConfig _consumerConfig;
    private readonly KafkaClientFactory _clients;
    private readonly RetryLevels? _levels;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _partitionCounts = new(StringComparer.Ordinal);
    private IProducer<byte[]?, byte[]?>? _producer;
    private bool _disposed;

    /// <param name="producerConfig">The dead-letter producer's settings (<see cref="BuildConfig"/>).</param>
    /// <param name="consumerConfig">The settings of the consumer whose records are dead-lettered: the look-up reads with them.</param>
    /// <param name="options">Where and how records are dead-lettered.</param>
    /// <param name="groupId">The consumer's group (written in the diagnostic headers).</param>
    /// <param name="time">The clock of the look-up's timeout.</param>
    /// <param name="clients">Creates the producer and the look-up consumer.</param>
    /// <param name="levels">The consumer's retry topics (<see cref="FailurePolicy.RetryTopic"/>), whose records are dead-lettered as their source records; null without.</param>
    public DeadLetterWriter(KafkaClientConfig producerConfig, KafkaClientConfig consumerConfig, DeadLetterOptions options, string groupId, TimeProvider time, KafkaClientFactory clients, RetryLevels? levels = null)
    {
        _levels = levels;
        _producerConfig = producerConfig;
        _consumerConfig = consumerConfig;
        _clients = clients;
        _options = options;
        _groupId = groupId;
        _time = time;
    }

    /// <summary>
    /// The settings of the look-up consumer: every setting of the consumer it serves (so it connects, authenticates and
    /// reads exactly as that consumer does), outside any group: a group id of its own, no static membership, nothing
    /// committed or stored, no end-of-partition events, and fetches that return at once.
    /// </summary>
    public static List<KeyValuePair<string, string>> LookupSettings(KafkaClientConfig consumerConfig) =>
        ReaderSettings.From(consumerConfig, "dlt-lookup", "reliablekafka-dlt-check", partitionEof: false);

    /// <summary>
    /// The settings of a consumer's dead-letter producer: the connection and raw settings of the consumer's cluster,
    /// AtLeastOnce, and <see cref="DeadLetterOptions.WriteTimeout"/>.
    /// </summary>
    public static KafkaClientConfig BuildConfig(ReliableKafkaOptions root, string consumerName, ConsumerOptions options) =>
        KafkaClientConfigBuilder.BuildProducer(
            root,
            $"{consumerName}-dlt",
            new ProducerOptions
            {
                DeliveryGuarantee = DeliveryGuarantee.AtLeastOnce,
                MessageTimeout = options.DeadLetter.WriteTimeout,
                MessageIdHeader = false,
                Cluster = options.Cluster,
            });

    public async Task<TopicPartitionOffset> WriteAsync(ConsumeResult<byte[]?, byte[]?> record, Exception error, int attempts, CancellationToken cancellationToken)
    {
        var message = new Message<byte[]?, byte[]?>
        {
            Key = record.Message.Key,
            Value = record.Message.Value,
            Headers = DiagnosticHeaders(record, error, attempts),
        };
        var topic = _options.TopicFor(OriginOf(record).Topic);
        var sending = Send(new TopicPartition(topic, Partition.Any), message, cancellationToken); // a span only for a write that was queued
        var result = await Tracing.EndCopyAsync(Tracing.StartCopy(topic, message.Headers, "dead_letter"), sending, r => r.TopicPartitionOffset).ConfigureAwait(false);
        return result.TopicPartitionOffset;
    }

    public async Task<TopicPartitionOffset> SendAsync(TopicPartition destination, Message<byte[]?, byte[]?> message, CancellationToken cancellationToken)
    {
        var result = await Send(destination, message, cancellationToken).ConfigureAwait(false);
        return result.TopicPartitionOffset;
    }

    public Task<int> PartitionCountAsync(string topic, bool refresh, CancellationToken cancellationToken)
    {
        if (!refresh && _partitionCounts.TryGetValue(topic, out var known))
        {
            return Task.FromResult(known);
        }

        return Task.Run(
            () =>
            {
                IProducer<byte[]?, byte[]?> producer;
                lock (_gate)
                {
                    ObjectDisposedException.ThrowIf(_disposed, this);
                    producer = _producer ??= CreateProducer();
                }

                using var admin = new DependentAdminClientBuilder(producer.Handle).Build();
                var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single();
                if (metadata.Error.IsError || metadata.Partitions.Count == 0)
                {
                    throw new KafkaException(metadata.Error.IsError ? metadata.Error : new Error(ErrorCode.UnknownTopicOrPart, $"The topic {topic} has no partitions."));
                }

                return _partitionCounts[topic] = metadata.Partitions.Count;
            },
            cancellationToken);
    }

    /// <summary>Where a record was first consumed: a retry topic's copy names its source record.</summary>
    private RecordOrigin OriginOf(ConsumeResult<byte[]?, byte[]?> record) => _levels?.OriginOf(record) ?? RecordOrigin.Of(record);

    /// <summary>
    /// Queues a write on the producer, created on first use; never after <see cref="Dispose"/> (a handler abandoned at
    /// shutdown may still fail and try to dead-letter its record: it gets an <see cref="ObjectDisposedException"/>, not
    /// a leaked client). Queued under the lock, so that disposal purges every write that was queued.
    /// </summary>
    private Task<DeliveryResult<byte[]?, byte[]?>> Send(TopicPartition destination, Message<byte[]?, byte[]?> message, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _producer ??= CreateProducer();
            return _producer.ProduceAsync(destination, message, cancellationToken);
        }
    }

    /// <summary>Creates the producer; a failure (a builder action that throws, say) surely wrote nothing.</summary>
    private IProducer<byte[]?, byte[]?> CreateProducer()
    {
        try
        {
            return _clients.CreateProducer(_producerConfig, KafkaClientRole.DeadLetterProducer, _consumerConfig.Name);
        }
        catch (Exception e)
        {
            throw new DeadLetterProducerUnavailableException($"The dead-letter producer could not be created: {e.Message}", e);
        }
    }

    public Task<bool> ContainsAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken) =>
        Task.Run(() => Contains(record, cancellationToken), cancellationToken);

    /// <summary>
    /// Disposes the producer after purging what it still holds: Confluent.Kafka drops the delivery reports of messages
    /// left in a disposed producer, so a write in flight would never complete. A purged write fails (possibly written:
    /// the record's next owner looks it up before writing).
    /// </summary>
    public void Dispose()
    {
        IProducer<byte[]?, byte[]?>? producer;
        lock (_gate)
        {
            _disposed = true;
            producer = _producer;
        }

        if (producer is null)
        {
            return;
        }

        try
        {
            Producing.Internal.ProducerPurge.All(producer);
            producer.Flush(PurgeReportTimeout);
        }
        catch (Exception e) when (e is KafkaException or InvalidOperationException)
        {
            // The producer is disposed below either way; its writes then fail or were delivered.
        }

        producer.Dispose();
    }

    private bool Contains(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken)
    {
        var origin = OriginOf(record);
        var topic = _options.TopicFor(origin.Topic);
        using var consumer = _clients.CreateConsumer(LookupSettings(_consumerConfig), KafkaClientRole.DeadLetterLookup, _consumerConfig.Name, _consumerConfig.Cluster);
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var timeout = TimeSpan.FromSeconds(10);
        var deadline = _time.GetTimestamp();
        var partitions = admin.GetMetadata(topic, timeout).Topics.Single().Partitions.Select(p => new TopicPartition(topic, p.PartitionId)).ToList();

        // Only partitions that hold records (retention may have emptied a partition whose end offset is not 0), each read
        // from its start to the end it has now.
        var ranges = partitions.ToDictionary(p => p, p => consumer.QueryWatermarkOffsets(p, timeout));
        var ends = ranges.Where(r => r.Value.High.Value > r.Value.Low.Value).ToDictionary(r => r.Key, r => r.Value.High.Value);
        consumer.Assign(ends.Keys.Select(p => new TopicPartitionOffset(p, ranges[p].Low)));
        var (originalTopic, originalPartition, originalOffset, originalTimestamp) = (
            origin.Topic,
            origin.Partition.ToString(CultureInfo.InvariantCulture),
            origin.Offset.ToString(CultureInfo.InvariantCulture),
            origin.TimestampMs.ToString(CultureInfo.InvariantCulture));
        while (ends.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_time.GetElapsedTime(deadline) > LookupTimeout)
            {
                // No answer is no answer: the caller tries again later, and never writes meanwhile.
                throw new TimeoutException($"Reading the dead-letter topic {topic} did not finish within {LookupTimeout.TotalSeconds:0} s.");
            }

            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is not { } found)
            {
                // The end may be a transaction marker or a deleted record, which are never returned: the position tells.
                foreach (var partition in ends.Keys.Where(p => consumer.Position(p).Value >= ends[p]).ToList())
                {
                    ends.Remove(partition);
                }

                continue;
            }

            if (Header(found, ReliableKafkaHeaders.DeadLetterConsumerGroup) == _groupId
                && Header(found, ReliableKafkaHeaders.DeadLetterOriginalOffset) == originalOffset
                && Header(found, ReliableKafkaHeaders.DeadLetterOriginalPartition) == originalPartition
                && Header(found, ReliableKafkaHeaders.DeadLetterOriginalTopic) == originalTopic
                && Header(found, ReliableKafkaHeaders.DeadLetterOriginalTimestamp) == originalTimestamp)
            {
                return true;
            }

            if (ends.TryGetValue(found.TopicPartition, out var end) && found.Offset.Value + 1 >= end)
            {
                ends.Remove(found.TopicPartition);
            }
        }

        return false;
    }

    private static string? Header(ConsumeResult<byte[]?, byte[]?> record, string key) =>
        record.Message.Headers is { } headers && headers.TryGetLastBytes(key, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;

    /// <summary>The original headers (without diagnostics of an earlier dead-lettering) followed by this failure's.</summary>
    private Headers DiagnosticHeaders(ConsumeResult<byte[]?, byte[]?> record, Exception error, int attempts)
    {
        var headers = new Headers();
        foreach (var header in record.Message.Headers ?? [])
        {
            if (!header.Key.StartsWith(HeaderPrefix, StringComparison.Ordinal))
            {
                headers.Add(header.Key, header.GetValueBytes());
            }
        }

        void Add(string key, string value) => headers.Add(key, Encoding.UTF8.GetBytes(value));
        var origin = OriginOf(record);
        Add(ReliableKafkaHeaders.DeadLetterOriginalTopic, origin.Topic);
        Add(ReliableKafkaHeaders.DeadLetterOriginalPartition, origin.Partition.ToString(CultureInfo.InvariantCulture));
        Add(ReliableKafkaHeaders.DeadLetterOriginalOffset, origin.Offset.ToString(CultureInfo.InvariantCulture));
        Add(ReliableKafkaHeaders.DeadLetterOriginalTimestamp, origin.TimestampMs.ToString(CultureInfo.InvariantCulture));
        Add(ReliableKafkaHeaders.DeadLetterConsumerGroup, _groupId);
        Add(ReliableKafkaHeaders.DeadLetterExceptionType, error.GetType().FullName ?? error.GetType().Name);
        Add(ReliableKafkaHeaders.DeadLetterExceptionMessage, Truncate(error.Message, _options.MaxErrorMessageLength));
        Add(ReliableKafkaHeaders.DeadLetterAttempts, attempts.ToString(CultureInfo.InvariantCulture));
        Add(ReliableKafkaHeaders.DeadLetterFailedAt, _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture));
        return headers;
    }

    /// <summary>At most <paramref name="length"/> characters, never cutting a surrogate pair in half.</summary>
    internal static string Truncate(string text, int length)
    {
        if (text.Length <= length)
        {
            return text;
        }

        var cut = char.IsHighSurrogate(text[length - 1]) ? length - 1 : length;
        return text[..cut];
    }
}
