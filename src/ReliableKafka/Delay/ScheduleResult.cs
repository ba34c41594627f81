using Confluent.Kafka;

namespace ReliableKafka;

/// <summary>A scheduled message, as <c>ScheduleAsync</c> acknowledged it.</summary>
public sealed class ScheduleResult
{
    internal ScheduleResult(string scheduleId, string topic, DateTimeOffset dueAt, TopicPartitionOffset written)
    {
        ScheduleId = scheduleId;
        Topic = topic;
        DueAt = dueAt;
        Written = written;
    }

    /// <summary>Gets the schedule id: the delivered record's <see cref="ReliableKafkaHeaders.MessageId"/>, and what <c>CancelAsync</c> takes.</summary>
    public string ScheduleId { get; }

    /// <summary>Gets the topic the message is delivered to.</summary>
    public string Topic { get; }

    /// <summary>Gets when the message is due (to the millisecond).</summary>
    public DateTimeOffset DueAt { get; }

    /// <summary>Gets where the scheduled record was written: a delay tier topic, or <see cref="Topic"/> when it was due already.</summary>
    public TopicPartitionOffset Written { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{ScheduleId} for {Topic} at {DueAt:O} (in {Written.Topic} [{Written.Partition.Value}] @{Written.Offset.Value})";
}
