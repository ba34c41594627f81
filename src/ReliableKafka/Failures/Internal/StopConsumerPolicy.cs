using ReliableKafka.Consuming.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Failures.Internal;

/// <summary>
/// <see cref="FailurePolicy.StopConsumer"/>: the record's partition stops, and the consumer stops gracefully (committing
/// below the record), ending with a <see cref="ConsumerStoppedException"/>.
/// </summary>
internal sealed class StopConsumerPolicy(EngineContext context, PauseReconciler pauses, EngineLifecycle lifecycle) : IFailurePolicy
{
    public Task ApplyAsync(FailedRecord failed, CancellationToken cancellationToken)
    {
        var (record, error, attempts) = (failed.Record, failed.Error, failed.Attempts);
        Log.StoppingOnFailure(context.Logger, context.Name, record.Topic, record.Partition.Value, record.Offset.Value, attempts, error);
        pauses.Fail(failed.State, error);
        lifecycle.RequestStop(new ConsumerStoppedException(
            $"Consumer {context.Name} stopped (FailurePolicy.StopConsumer): {record.Topic} [{record.Partition.Value}] @{record.Offset.Value} failed after {attempts} attempt(s): {error.Message}",
            error));
        return Task.CompletedTask;
    }
}
