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

    public DeadLetterWriter(KafkaClientConfig producerConfig, DeadLetterOptions options, string groupId, TimeProvider time, ILogger librdkafkaLogger)
    {
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

    public void Dispose()
    {
        if (_producer.IsValueCreated)
        {
            _producer.Value.Dispose();
        }
    }

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
