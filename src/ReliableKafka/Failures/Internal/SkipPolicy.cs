using ReliableKafka.Consuming.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Failures.Internal;

/// <summary><see cref="FailurePolicy.Skip"/>: the record is logged, counted and finished; it is not handled again.</summary>
internal sealed class SkipPolicy(EngineContext context) : IFailurePolicy
{
    public Task ApplyAsync(FailedRecord failed, CancellationToken cancellationToken)
    {
        var record = failed.Record;
        Log.RecordSkipped(context.Logger, context.Name, record.Topic, record.Partition.Value, record.Offset.Value, failed.Attempts, failed.Error);
        context.Metrics.Skip(failed.State.TopicPartition);
        failed.State.Offsets.Complete(record.Offset.Value);
        return Task.CompletedTask;
    }
}
