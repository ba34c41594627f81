using Polly;
using Polly.Retry;

namespace ReliableKafka.Failures.Internal;

/// <summary>
/// Polly pipelines for the waits that last until something outside recovers (a deduplication store, the dead-letter
/// topic, a schema registry): exponential backoff with jitter, also at the cap, so that the members of a group, and the
/// records of a member, do not come back to a recovering database or broker in lockstep.
/// </summary>
internal static class Backoffs
{
    /// <summary>
    /// A pipeline that retries a failure <paramref name="handles"/> accepts, as often as needed, after delays growing
    /// from about <paramref name="first"/> to at most <paramref name="max"/> (with jitter), calling
    /// <paramref name="onRetry"/> with the failure and the delay before each wait. A failure it does not accept, or one
    /// after the token fired, ends it (the exception propagates).
    /// </summary>
    public static ResiliencePipeline UntilItWorks(
        TimeSpan first, TimeSpan max, TimeProvider time, Func<Exception, bool> handles, Action<Exception, TimeSpan> onRetry) =>
        new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = int.MaxValue,
                Delay = first,
                MaxDelay = max,
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(Delay(first, max, args.AttemptNumber)),
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } e && !args.Context.CancellationToken.IsCancellationRequested && handles(e)),
                OnRetry = args =>
                {
                    onRetry(args.Outcome.Exception!, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();

    /// <summary>
    /// The wait before retry <paramref name="attempt"/> (0 for the first): doubling from <paramref name="first"/> up to
    /// <paramref name="max"/>, then a random point in its upper half, so that waits stay spread out at the cap too
    /// (Polly's own jitter ends at its maximum delay, which would bring long outages back to lockstep).
    /// </summary>
    internal static TimeSpan Delay(TimeSpan first, TimeSpan max, int attempt)
    {
        var ceiling = attempt >= 40 || first.Ticks > max.Ticks >> Math.Min(attempt, 62) ? max : TimeSpan.FromTicks(first.Ticks << attempt);
        return ceiling * (0.5 + (0.5 * Random.Shared.NextDouble()));
    }
}
