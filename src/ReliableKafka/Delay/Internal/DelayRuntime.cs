using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ReliableKafka.Producing.Internal;

namespace ReliableKafka.Delay.Internal;

/// <summary>What the scheduler and the forwarder share: the options, the delay producer, and cancelling.</summary>
internal sealed class DelayRuntime(IOptions<ReliableKafkaOptions> options, ProducerClientRegistry producers, TimeProvider time, Diagnostics.Internal.ReliableKafkaMetrics? metrics = null)
{
    /// <summary>The name of the producer that writes to the delay topics, the cancellation topic and the targets.</summary>
    public const string ProducerName = "reliablekafka-delay";

    /// <summary>The name of the forwarder's consumer (<c>ReliableKafka:Consumers:reliablekafka-delay-forwarder</c>, the same object as <c>DelayedDelivery:Forwarder</c>).</summary>
    public const string ForwarderName = "reliablekafka-delay-forwarder";

    private DelayedDeliveryOptions? _options;

    public DelayedDeliveryOptions Options => _options ??= options.Value.DelayedDelivery;

    public IReadOnlyList<TimeSpan> Tiers => Options.EffectiveTiers;

    public TimeProvider Time { get; } = time;

    /// <summary>Gets the delayed delivery's instruments.</summary>
    public DelayMetrics Metrics { get; } = new(metrics ?? Diagnostics.Internal.ReliableKafkaMetrics.Shared);

    public ProducerClient Producer => producers.Get(ProducerName);

    /// <summary>
    /// Writes tombstones for cancellations past their retention, without waiting (the compacted topic then forgets them);
    /// one that fails is written again by the next forwarder that reads the cancellation after a restart.
    /// </summary>
    public void WriteTombstones(IReadOnlyList<(string ScheduleId, TopicPartition Partition)> expired, ILogger logger)
    {
        foreach (var (id, partition) in expired)
        {
            // To the partition the cancellation was read from: compaction removes a key within its partition only (the
            // topic may have more partitions now than when it was written).
            var topic = partition.Topic;
            var tombstone = new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(id), Value = null };
            Task<ProduceResult> sent;
            try
            {
                sent = Producer.SendAsync(partition, tombstone, messageId: null, CancellationToken.None);
            }
            catch (Exception e) when (ReliableProducer<byte[], byte[]>.Failed(e, topic, null) is { } failed)
            {
                sent = failed;
            }

            _ = sent.ContinueWith(
                t => Diagnostics.Internal.Log.DelayTombstoneFailed(logger, topic, t.Exception!.GetBaseException()),
                CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    /// <summary>Records a cancellation and says whether it is certain to stop the message (see <see cref="IMessageScheduler.CancelAsync"/>).</summary>
    public async Task<ScheduleCancellation> CancelAsync(string scheduleId, CancellationToken cancellationToken)
    {
        if (!ScheduleIds.TryParse(scheduleId, out var dueAt))
        {
            throw new ArgumentException($"'{scheduleId}' is not a schedule id (ScheduleResult.ScheduleId).", nameof(scheduleId));
        }

        var topic = Options.CancellationTopic;
        var record = new Message<byte[]?, byte[]?>
        {
            Key = Encoding.UTF8.GetBytes(scheduleId),
            Value = Encoding.UTF8.GetBytes(dueAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)),
        };
        Task<ProduceResult> sent;
        try
        {
            sent = Producer.SendAsync(topic, record, messageId: null, cancellationToken);
        }
        catch (Exception e) when (ReliableProducer<byte[], byte[]>.Failed(e, topic, null) is { } failed)
        {
            sent = failed;
        }

        await sent.ConfigureAwait(false);
        Metrics.CancellationRecorded();

        // Judged after the acknowledgement: only then can a forwarder see it.
        return Time.GetUtcNow() + Options.CancellationMargin < dueAt ? ScheduleCancellation.Cancelled : ScheduleCancellation.TooLate;
    }
}
