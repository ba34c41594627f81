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

    private readonly DeadLetterOptions _options;
    private readonly string _groupId;
    private readonly TimeProvider _time;
    private readonly Lazy<IProducer<byte[]?, byte[]?>> _producer;
    private readonly KafkaClientConfig _producerConfig;
    private readonly ILogger _librdkafkaLogger;

    // Connection and security settings a reader of the dead-letter topic shares with its producer.
    private static readonly string[] SharedPrefixes = ["bootstrap.servers", "security.", "sasl.", "ssl.", "client.", "socket.", "reconnect.", "broker.", "api.version", "metadata.", "topic.metadata", "connections.max.idle.ms"];

    public DeadLetterWriter(KafkaClientConfig producerConfig, DeadLetterOptions options, string groupId, TimeProvider time, ILogger librdkafkaLogger)
    {
        _producerConfig = producerConfig;
        _librdkafkaLogger = librdkafkaLogger;
        _options = options;
        _groupId = groupId;
        _time = time;
        _producer = new Lazy<IProducer<byte[]?, byte[]?>>(
            () => new ProducerBuilder<byte[]?, byte[]?>(producerConfig.Values)
                .SetLogHandler((_, message) => Log.Librdkafka(librdkafkaLogger, message))
                .Build(),
            LazyThreadSafetyMode.ExecutionAndPublication);
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
        var result = await _producer.Value.ProduceAsync(_options.TopicFor(record.Topic), message, cancellationToken).ConfigureAwait(false);
        return result.TopicPartitionOffset;
    }

    public Task<bool> ContainsAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken) =>
        Task.Run(() => Contains(record, cancellationToken), cancellationToken);

    public void Dispose()
    {
        if (_producer.IsValueCreated)
        {
            _producer.Value.Dispose();
        }
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
        var partitions = admin.GetMetadata(topic, timeout).Topics.Single().Partitions.Select(p => new TopicPartition(topic, p.PartitionId)).ToList();
        var ends = partitions.ToDictionary(p => p.Partition.Value, p => consumer.QueryWatermarkOffsets(p, timeout).High.Value);
        var pending = ends.Where(e => e.Value > 0).Select(e => e.Key).ToHashSet();
        consumer.Assign(partitions.Where(p => pending.Contains(p.Partition.Value)).Select(p => new TopicPartitionOffset(p, Offset.Beginning)));
        var (originalTopic, originalPartition, originalOffset) = (
            record.Topic, record.Partition.Value.ToString(CultureInfo.InvariantCulture), record.Offset.Value.ToString(CultureInfo.InvariantCulture));
        while (pending.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is not { } found)
            {
                continue;
            }

            if (Header(found, ReliableKafkaHeaders.DeadLetterConsumerGroup) == _groupId
                && Header(found, ReliableKafkaHeaders.DeadLetterOriginalOffset) == originalOffset
                && Header(found, ReliableKafkaHeaders.DeadLetterOriginalPartition) == originalPartition
                && Header(found, ReliableKafkaHeaders.DeadLetterOriginalTopic) == originalTopic)
            {
                return true;
            }

            if (found.Offset.Value + 1 >= ends[found.Partition.Value])
            {
                pending.Remove(found.Partition.Value);
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
