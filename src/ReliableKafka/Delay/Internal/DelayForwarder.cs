using Confluent.Kafka;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Deduplication;
using ReliableKafka.Producing.Internal;

namespace ReliableKafka.Delay.Internal;

/// <summary>
/// What the forwarder's engine runs for each delay tier record once it is due for its hop (<see cref="DelayGate"/>):
/// when the message is due, delivers it to its target topic (unless cancelled), else moves it to the tier for its
/// remaining delay. Each write is acknowledged (acks=all) before the record counts as handled, so its offset is
/// committed only after the message is safely at its next place; a crash in between writes it again (same schedule id:
/// an idempotent consumer at the target drops the repeat).
/// </summary>
internal sealed class DelayForwarder(DelayRuntime runtime, DelayCancellations cancellations) : IRecordHandler
{
    public bool DeserializesAsynchronously => false;

    public ValueTask<object> PrepareAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken) => ValueTask.FromResult<object>(record);

    public string? SelectMessageId(object prepared) => null;

    public async Task HandleAsync(object prepared, int attempt, Func<IServiceProvider, ValueTask<IDeduplicationTransaction>>? transaction, CancellationToken cancellationToken)
    {
        var record = (ConsumeResult<byte[]?, byte[]?>)prepared;
        var headers = record.Message.Headers;
        var target = DelayHeaders.ReadText(headers, ReliableKafkaHeaders.DelayTarget)
            ?? throw new FormatException($"{record.TopicPartitionOffset} has no {ReliableKafkaHeaders.DelayTarget} header: it was not written by a message scheduler.");
        var dueAt = DelayHeaders.ReadTime(headers, ReliableKafkaHeaders.DelayDueAt)
            ?? throw new FormatException($"{record.TopicPartitionOffset} has no readable {ReliableKafkaHeaders.DelayDueAt} header.");
        var scheduleId = MessageIds.Read(headers);
        if (scheduleId is not null && cancellations.IsCancelled(scheduleId))
        {
            runtime.Metrics.Cancelled(target);
            return;
        }

        var now = runtime.Time.GetUtcNow();
        while (dueAt > now && dueAt - now <= DelayGate.Lookahead)
        {
            // Taken a little early with records due at about the same time (DelayGate.Lookahead): never delivered early.
            await Task.Delay(dueAt - now, runtime.Time, cancellationToken).ConfigureAwait(false);
            now = runtime.Time.GetUtcNow();
        }

        if (dueAt > now)
        {
            var tier = DelayTiers.Choose(runtime.Tiers, dueAt - now);
            var next = runtime.Options.TierTopic(tier);
            await SendAsync(next, record, DelayHeaders.ForNextHop(headers!, DelayTiers.HopAt(now, dueAt, tier)), cancellationToken).ConfigureAwait(false);
            runtime.Metrics.Forwarded(record.Topic, DelayTiers.Name(tier));
            return;
        }

        // The last hop: only once every cancellation that CancelAsync called Cancelled has been read. Those were
        // acknowledged at least CancellationMargin before the due time by the cancelling process's clock; half of the
        // margin is left for that clock being behind this one (every process must use the same margin).
        await cancellations.WaitUntilReadAsync(dueAt - (runtime.Options.CancellationMargin / 2), cancellationToken).ConfigureAwait(false);
        if (scheduleId is not null && cancellations.IsCancelled(scheduleId))
        {
            runtime.Metrics.Cancelled(target);
            return;
        }

        await SendAsync(target, record, DelayHeaders.ForNextHop(headers!, hopAt: null), cancellationToken).ConfigureAwait(false);
        runtime.Metrics.Delivered(target, runtime.Time.GetUtcNow() - dueAt);
    }


    private Task<ProduceResult> SendAsync(string topic, ConsumeResult<byte[]?, byte[]?> record, Headers headers, CancellationToken cancellationToken)
    {
        var message = new Message<byte[]?, byte[]?> { Key = record.Message.Key, Value = record.Message.Value, Headers = headers };
        var id = MessageIds.ReadUtf8(headers);
        try
        {
            var sent = runtime.Producer.SendAsync(topic, message, id, cancellationToken);
            return Diagnostics.Internal.Tracing.StartCopy(topic, headers, "forward") is { } span ? Diagnostics.Internal.Tracing.EndCopyAsync(span, sent, r => r.TopicPartitionOffset) : sent;
        }
        catch (Exception e) when (ReliableProducer<byte[], byte[]>.Failed(e, topic, id) is { } failed)
        {
            return failed;
        }
    }
}
