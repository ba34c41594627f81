using System.Globalization;
using System.Text;
using Confluent.Kafka;
using ReliableKafka.Producing.Internal;

namespace ReliableKafka.Delay.Internal;

/// <summary>Writes scheduled messages to the delay tier for their delay, serialized for their target topic.</summary>
internal sealed class MessageScheduler<TKey, TValue>(IServiceProvider services, ProducerClientRegistry producers, DelayRuntime runtime) : IMessageScheduler<TKey, TValue>
{
    private readonly ReliableProducer<TKey, TValue> _producer = new(DelayRuntime.ProducerName, producers, services, runtime.Time);

    public Task<ScheduleResult> ScheduleAsync(string topic, TKey key, TValue value, DateTimeOffset dueAt, CancellationToken cancellationToken = default) =>
        ScheduleAsync(topic, new Message<TKey, TValue> { Key = key, Value = value }, dueAt, cancellationToken);

    public Task<ScheduleResult> ScheduleAsync(string topic, TKey key, TValue value, TimeSpan delay, CancellationToken cancellationToken = default) =>
        ScheduleAsync(topic, new Message<TKey, TValue> { Key = key, Value = value }, runtime.Time.GetUtcNow() + delay, cancellationToken);

    public async Task<ScheduleResult> ScheduleAsync(string topic, Message<TKey, TValue> message, DateTimeOffset dueAt, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentNullException.ThrowIfNull(message);

        // Due times travel in headers to the millisecond (rounded up: never before the time asked for); the schedule id
        // carries the same value.
        var dueMs = dueAt.ToUnixTimeMilliseconds();
        if (DateTimeOffset.FromUnixTimeMilliseconds(dueMs) < dueAt)
        {
            dueMs++;
        }

        if (dueMs < 0 || dueMs > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            throw new ArgumentOutOfRangeException(nameof(dueAt), dueAt, "A due time is from 1970-01-01 (UTC) on.");
        }

        dueAt = DateTimeOffset.FromUnixTimeMilliseconds(dueMs);
        var scheduleId = MessageIds.Read(message.Headers) is { } ownId ? ScheduleIds.FromMessageId(ownId, topic, dueAt) : ScheduleIds.Create(runtime.Time, dueAt);
        var headers = DelayHeaders.WithoutDelayHeaders(message.Headers);
        headers.Add(ReliableKafkaHeaders.MessageId, Encoding.UTF8.GetBytes(scheduleId));
        var now = runtime.Time.GetUtcNow();
        string written;
        string? tierName = null;
        if (dueAt <= now)
        {
            written = topic;
        }
        else
        {
            var tier = DelayTiers.Choose(runtime.Tiers, dueAt - now);
            tierName = DelayTiers.Name(tier);
            written = runtime.Options.TierTopic(tier);
            headers.Add(ReliableKafkaHeaders.DelayTarget, Encoding.UTF8.GetBytes(topic));
            headers.Add(ReliableKafkaHeaders.DelayDueAt, Encoding.UTF8.GetBytes(dueAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
            DelayHeaders.SetHopAt(headers, DelayTiers.HopAt(now, dueAt, tier));
        }

        var result = await _producer.ProduceAsync(written, topic, new Message<TKey, TValue> { Key = message.Key, Value = message.Value, Headers = headers }, cancellationToken)
            .ConfigureAwait(false);
        runtime.Metrics.Scheduled(tierName ?? "due");
        if (tierName is null)
        {
            runtime.Metrics.Delivered(topic, runtime.Time.GetUtcNow() - dueAt); // due already: written to its target at once
        }

        return new ScheduleResult(scheduleId, topic, dueAt, result.TopicPartitionOffset);
    }

    public Task<ScheduleCancellation> CancelAsync(string scheduleId, CancellationToken cancellationToken = default) => runtime.CancelAsync(scheduleId, cancellationToken);
}
