namespace ReliableKafka.Delay.Internal;

/// <summary>The non-generic <see cref="IMessageScheduler"/>, for code that only cancels.</summary>
internal sealed class ScheduleCanceller(DelayRuntime runtime) : IMessageScheduler
{
    public Task<ScheduleCancellation> CancelAsync(string scheduleId, CancellationToken cancellationToken = default) => runtime.CancelAsync(scheduleId, cancellationToken);
}
