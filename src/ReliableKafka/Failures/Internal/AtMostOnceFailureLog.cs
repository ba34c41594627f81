using ReliableKafka.Consuming.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Failures.Internal;

/// <summary>Under AtMostOnce a failed record is only logged: its offset was committed before it was handled.</summary>
internal sealed class AtMostOnceFailureLog(EngineContext context) : IFailurePolicy
{
    public Task ApplyAsync(FailedRecord failed, CancellationToken cancellationToken)
    {
        var record = failed.Record;
        Log.HandlerFailedAtMostOnce(context.Logger, context.Name, record.Topic, record.Partition.Value, record.Offset.Value, failed.Error);
        return Task.CompletedTask;
    }
}
