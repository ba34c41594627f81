using ReliableKafka.Consuming.Internal;
using ReliableKafka.Deduplication.Internal;

namespace ReliableKafka.Failures.Internal;

/// <summary>Creates the <see cref="IFailurePolicy"/> a consumer's options ask for.</summary>
internal static class FailurePolicies
{
    public static IFailurePolicy Create(EngineContext context, IDeadLetterWriter? deadLetters, Deduplicator? dedup, PauseReconciler pauses, EngineLifecycle lifecycle)
    {
        if (context.AtMostOnce)
        {
            return new AtMostOnceFailureLog(context);
        }

        return context.Options.FailurePolicy switch
        {
            FailurePolicy.DeadLetter => new DeadLetterPolicy(
                context,
                deadLetters ?? throw new ArgumentNullException(nameof(deadLetters), "FailurePolicy.DeadLetter needs a dead-letter writer."),
                dedup),
            FailurePolicy.RetryTopic => new Retry.RetryTopicPolicy(
                context,
                context.Retries ?? throw new ArgumentException("FailurePolicy.RetryTopic needs the consumer's retry topics.", nameof(context)),
                deadLetters ?? throw new ArgumentNullException(nameof(deadLetters), "FailurePolicy.RetryTopic needs a dead-letter writer."),
                dedup,
                context.Parking),
            FailurePolicy.Skip => new SkipPolicy(context),
            FailurePolicy.StopConsumer => new StopConsumerPolicy(context, pauses, lifecycle),
            _ => new PausePartitionPolicy(context, pauses),
        };
    }
}
