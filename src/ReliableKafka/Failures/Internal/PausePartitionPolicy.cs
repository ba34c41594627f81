using ReliableKafka.Consuming.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Failures.Internal;

/// <summary>
/// <see cref="FailurePolicy.PausePartition"/>: the record's partition stops (paused, nothing at or past the record
/// committed) until it is assigned anew; the consumer's other partitions go on.
/// </summary>
internal sealed class PausePartitionPolicy(EngineContext context, PauseReconciler pauses) : IFailurePolicy
{
    public Task ApplyAsync(FailedRecord failed, CancellationToken cancellationToken)
    {
        var record = failed.Record;
        Log.HandlerFailed(context.Logger, context.Name, record.Topic, record.Partition.Value, record.Offset.Value, failed.Error);
        pauses.Fail(failed.State, failed.Error);
        return Task.CompletedTask;
    }
}
