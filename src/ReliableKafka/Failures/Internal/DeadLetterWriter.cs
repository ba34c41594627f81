using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using ReliableKafka.Configuration.Internal;
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
    private readonly ILogger _librdkafkaLogger;
    private IProducer<byte[]?, byte[]?>? _producer;
    private bool _disposed;

    // Connection and security settings a reader of the dead-letter topic shares with its producer.
    private static readonly string[] SharedPrefixes = ["bootstrap.servers", "security.", "sasl.", "ssl.", "client.", "socket.", "reconnect.", "broker.", "api.version", "metadata.", "topic.metadata", "connections.max.idle.ms"];

    public DeadLetterWriter(KafkaClientConfig producerConfig, DeadLetterOptions options, string groupId, TimeProvider time, ILogger librdkafkaLogger)
    {
        _producerConfig = producerConfig;
        _librdkafkaLogger = librdkafkaLogger;
        _options = options;
        _groupId = groupId;
        _time = time;
    }

    /// <summary>The settings of a consumer's dead-letter producer: the global ones, AtLeastOnce, and <see cref="DeadLetterOptions.WriteTimeout"/>.</summary>
    public static KafkaClientConfig BuildConfig(ReliableKafkaOptions root, string consumerName, ConsumerOptions options) =>
        KafkaClientConfigBuilder.BuildProducer(
            root,
            $"{consumerName}-dlt",
            new ProducerOptions { DeliveryGuarantee = DeliveryGuarantee.AtLeastOnce, MessageTimeout = options.DeadLetter.WriteTimeout, MessageIdHeader = false });

    public async Task<TopicPartitionOffset> WriteAsync(ConsumeResult<byte[]?, byte[]?> record, Exception error, int attempts, CancellationToken cancellationToken)
    {
        var message = new Message<byte[]?, byte[]?>
        {
            Key = record.Message.Key,
            Value = record.Message.Value,
            Headers = DiagnosticHeaders(record, error, attempts),
        };
        var result = await Send(_options.TopicFor(record.Topic), message, cancellationToken).ConfigureAwait(false);
        return result.TopicPartitionOffset;
    }

    /// <summary>
    /// Queues a write on the producer, created on first use; never after <see cref="Dispose"/> (a handler abandoned at
    /// shutdown may still fail and try to dead-letter its record: it gets an <see cref="ObjectDisposedException"/>, not
    /// a leaked client). Queued under the lock, so that disposal purges every write that was queued.
    /// </summary>
    private Task<DeliveryResult<byte[]?, byte[]?>> Send(string topic, Message<byte[]?, byte[]?> message, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _producer ??= new ProducerBuilder<byte[]?, byte[]?>(_producerConfig.Values)
                .SetLogHandler((_, message) => Log.Librdkafka(_librdkafkaLogger, message))
                .Build();
            return _producer.ProduceAsync(topic, message, cancellationToken);
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
        var topic = _options.TopicFor(record.Topic);
        var settings = _producerConfig.Values.Where(kv => SharedPrefixes.Any(p => kv.Key.StartsWith(p, StringComparison.Ordinal))).ToList();
        settings.Add(new("group.id", $"reliablekafka-dlt-check-{Guid.NewGuid():N}"));
        settings.Add(new("enable.auto.commit", "false"));
        settings.Add(new("enable.partition.eof", "false"));
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(settings)
            .SetLogHandler((_, message) => Log.Librdkafka(_librdkafkaLogger, message))
            .Build();
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
            record.Topic,
            record.Partition.Value.ToString(CultureInfo.InvariantCulture),
            record.Offset.Value.ToString(CultureInfo.InvariantCulture),
            record.Message.Timestamp.UnixTimestampMs.ToString(CultureInfo.InvariantCulture));
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
        Add(ReliableKafkaHeaders.DeadLetterOriginalTopic, record.Topic);
        Add(ReliableKafkaHeaders.DeadLetterOriginalPartition, record.Partition.Value.ToString(CultureInfo.InvariantCulture));
        Add(ReliableKafkaHeaders.DeadLetterOriginalOffset, record.Offset.Value.ToString(CultureInfo.InvariantCulture));
        Add(ReliableKafkaHeaders.DeadLetterOriginalTimestamp, record.Message.Timestamp.UnixTimestampMs.ToString(CultureInfo.InvariantCulture));
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
