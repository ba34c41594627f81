namespace ReliableKafka.IntegrationTests.Faults;

/// <summary>What a scenario makes handlers do before their effect: fail transiently, or stall.</summary>
internal sealed class FaultBehavior
{
    /// <summary>Gets or sets which records fail their first attempt (a transient failure, retried in place).</summary>
    public Func<FaultMessage, bool> FailsFirstAttempt { get; set; } = _ => false;

    /// <summary>Gets or sets which attempts fail (a transient failure), asked at every attempt, or null for none.</summary>
    public Func<FaultMessage, bool>? Fails { get; set; }

    /// <summary>Gets or sets a stall for a record (awaited before its effect; it ignores cancellation), or null.</summary>
    public Func<FaultMessage, Task?> Stall { get; set; } = _ => null;

    /// <summary>Gets how many transient failures were injected.</summary>
    public int TransientFailures => Volatile.Read(ref _transientFailures);

    internal int _transientFailures;
}

/// <summary>The suite's handler: records the effect in the attempt's inbox transaction, after the scenario's behaviour.</summary>
internal sealed class FaultHandler(World world, FaultTransaction transaction, FaultBehavior behavior) : IMessageHandler<string, FaultMessage>
{
    public async Task HandleAsync(MessageContext<string, FaultMessage> context, CancellationToken cancellationToken)
    {
        var message = context.Value;
        world.HandlerStarted(message);
        try
        {
            if ((context.Attempt == 1 && behavior.FailsFirstAttempt(message)) || behavior.Fails?.Invoke(message) == true)
            {
                Interlocked.Increment(ref behavior._transientFailures);
                throw new TimeoutException($"{message.Id}: transient failure (injected)");
            }

            if (behavior.Stall(message) is { } stall)
            {
                await stall;
            }

            transaction.Pending = (message, context.Offset.Value);
        }
        finally
        {
            world.HandlerEnded(message);
        }
    }
}
