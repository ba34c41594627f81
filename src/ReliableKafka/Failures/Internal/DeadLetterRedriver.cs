using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Failures.Internal;

/// <summary>
/// Reads a dead-letter topic with an assigned (not subscribed) consumer of the redrive group, re-produces the
/// matching records with an idempotent acks=all producer, and commits the read position per batch once the
/// batch is acknowledged.
/// </summary>
internal sealed class DeadLetterRedriver(IOptions<ReliableKafkaOptions> options, ILoggerFactory loggerFactory, KafkaClientFactory clients) : IDeadLetterRedriver
{
    private const string ClientName = "redrive";
    private static readonly TimeSpan MetadataTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(200);

    private readonly ILogger _logger = loggerFactory.CreateLogger(Log.ConsumerCategory);

    public Task<RedriveResult> RedriveAsync(RedriveRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.DeadLetterTopic);
        ArgumentOutOfRangeException.ThrowIfLessThan(request.BatchSize, 1);
        if (request.TargetTopic == request.DeadLetterTopic)
        {
            throw new ArgumentException("The target topic must differ from the dead-letter topic.", nameof(request));
        }

        var root = options.Value;
        var consumerOptions = new ConsumerOptions { GroupId = request.EffectiveGroupId, AutoOffsetReset = AutoOffsetReset.Earliest, Cluster = request.Cluster };
        consumerOptions.Topics.Add(request.DeadLetterTopic);
        var consumerConfig = KafkaClientConfigBuilder.BuildConsumer(root, ClientName, consumerOptions).ThrowIfInvalid();
        var producerConfig = KafkaClientConfigBuilder.BuildProducer(
            root, ClientName, new ProducerOptions { DeliveryGuarantee = DeliveryGuarantee.AtLeastOnce, MessageIdHeader = false, Cluster = request.Cluster }).ThrowIfInvalid();

        // The Confluent consumer blocks: the redrive runs on a thread of its own.
        return Task.Factory.StartNew(
            () => Run(request, consumerConfig, producerConfig, cancellationToken),
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }

    private RedriveResult Run(RedriveRequest request, KafkaClientConfig consumerConfig, KafkaClientConfig producerConfig, CancellationToken cancellationToken)
    {
        using var consumer = clients.CreateConsumer(consumerConfig.Values, KafkaClientRole.RedriveConsumer, ClientName, consumerConfig.Cluster);
        using var producer = clients.CreateProducer(producerConfig, KafkaClientRole.RedriveProducer, ClientName);

        // Where this group stopped, and the end as of now: records dead-lettered later wait for the next redrive.
        var partitions = Partitions(producer, request.DeadLetterTopic);
        var committed = consumer.Committed(partitions, MetadataTimeout).ToDictionary(c => c.TopicPartition, c => c.Offset.Value);
        var ends = new Dictionary<TopicPartition, long>();
        var starts = new List<TopicPartitionOffset>();
        foreach (var partition in partitions)
        {
            var watermarks = consumer.QueryWatermarkOffsets(partition, MetadataTimeout);
            var start = committed.TryGetValue(partition, out var offset) && offset >= 0 ? offset : watermarks.Low.Value;
            if (start < watermarks.High.Value)
            {
                ends[partition] = watermarks.High.Value;
                starts.Add(new TopicPartitionOffset(partition, start));
            }
        }

        consumer.Assign(starts);
        var batch = new List<Task<DeliveryResult<byte[]?, byte[]?>>>(request.BatchSize);
        var readUpTo = new Dictionary<TopicPartition, long>();
        var (redriven, passedOver) = (0, 0);
        while (ends.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var record = consumer.Consume(PollTimeout);
            if (record is null || record.IsPartitionEOF)
            {
                // The end may be a transaction marker, which is never returned: the position says we are past it.
                foreach (var partition in ends.Keys.Where(p => consumer.Position(p).Value >= ends[p]).ToList())
                {
                    ends.Remove(partition);
                }

                continue;
            }

            var source = record.TopicPartition;
            if (!ends.TryGetValue(source, out var end) || record.Offset.Value >= end)
            {
                continue;
            }

            if (Matches(request, record.Message.Headers) && (request.TargetTopic ?? Header(record.Message.Headers, ReliableKafkaHeaders.DeadLetterOriginalTopic)) is { } target)
            {
                var copy = Redriven(record.Message);
                var span = Diagnostics.Internal.Tracing.StartCopy(target, copy.Headers, "redrive");
                batch.Add(Diagnostics.Internal.Tracing.EndCopyAsync(span, producer.ProduceAsync(target, copy, CancellationToken.None), r => r.TopicPartitionOffset));
            }
            else
            {
                passedOver++;
            }

            readUpTo[source] = record.Offset.Value + 1;
            if (record.Offset.Value + 1 >= end)
            {
                ends.Remove(source);
            }

            if (batch.Count >= request.BatchSize)
            {
                redriven += Acknowledge(consumer, batch, readUpTo, cancellationToken);
            }
        }

        redriven += Acknowledge(consumer, batch, readUpTo, cancellationToken);
        Log.Redriven(_logger, request.DeadLetterTopic, request.EffectiveGroupId, redriven, passedOver);
        return new RedriveResult(redriven, passedOver);
    }

    /// <summary>
    /// Waits for the batch's acknowledgements, then commits how far the dead-letter topic was read; returns the batch's
    /// size. A failed send, or cancellation, throws here, before the commit: the batch is read (and sent) again by the
    /// next redrive, and its copies keep their message ids, so an idempotent consumer handles each once.
    /// </summary>
    private static int Acknowledge(IConsumer<byte[]?, byte[]?> consumer, List<Task<DeliveryResult<byte[]?, byte[]?>>> batch, Dictionary<TopicPartition, long> readUpTo, CancellationToken cancellationToken)
    {
        Task.WhenAll(batch).WaitAsync(cancellationToken).GetAwaiter().GetResult();
        if (readUpTo.Count > 0)
        {
            consumer.Commit(readUpTo.Select(r => new TopicPartitionOffset(r.Key, r.Value)));
        }

        var sent = batch.Count;
        batch.Clear();
        readUpTo.Clear();
        return sent;
    }

    private static List<TopicPartition> Partitions(IProducer<byte[]?, byte[]?> producer, string topic)
    {
        using var admin = new DependentAdminClientBuilder(producer.Handle).Build();
        var metadata = admin.GetMetadata(topic, MetadataTimeout).Topics.Single();
        if (metadata.Error.IsError)
        {
            throw new KafkaException(metadata.Error);
        }

        return [.. metadata.Partitions.Select(p => new TopicPartition(topic, p.PartitionId))];
    }

    private static bool Matches(RedriveRequest request, Headers? headers)
    {
        if (request.OriginalTopic is { } topic && Header(headers, ReliableKafkaHeaders.DeadLetterOriginalTopic) != topic)
        {
            return false;
        }

        if (request.FailedFrom is not null || request.FailedBefore is not null)
        {
            if (!DateTimeOffset.TryParse(Header(headers, ReliableKafkaHeaders.DeadLetterFailedAt), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var failedAt)
                || failedAt < request.FailedFrom
                || failedAt >= request.FailedBefore)
            {
                return false;
            }
        }

        return request.Filter?.Invoke(headers ?? []) ?? true;
    }

    /// <summary>The original record again: key, value and headers without the dead-letter diagnostics, and the redrive count raised.</summary>
    private static Message<byte[]?, byte[]?> Redriven(Message<byte[]?, byte[]?> deadLetter)
    {
        var headers = new Headers();
        var count = 0;
        foreach (var header in deadLetter.Headers ?? [])
        {
            if (header.Key == ReliableKafkaHeaders.RedriveCount)
            {
                _ = int.TryParse(Encoding.UTF8.GetString(header.GetValueBytes()), NumberStyles.None, CultureInfo.InvariantCulture, out count);
            }
            else if (!header.Key.StartsWith(DeadLetterWriter.HeaderPrefix, StringComparison.Ordinal) && !header.Key.StartsWith(Retry.RetryHeaders.Prefix, StringComparison.Ordinal))
            {
                headers.Add(header.Key, header.GetValueBytes());
            }
        }

        headers.Add(ReliableKafkaHeaders.RedriveCount, Encoding.UTF8.GetBytes((count + 1).ToString(CultureInfo.InvariantCulture)));
        return new Message<byte[]?, byte[]?> { Key = deadLetter.Key, Value = deadLetter.Value, Headers = headers };
    }

    private static string? Header(Headers? headers, string key) =>
        headers is not null && headers.TryGetLastBytes(key, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;
}
