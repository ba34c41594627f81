using Polly;
using Polly.Retry;

namespace ReliableKafka.Failures.Internal;

/// <summary>
/// Polly pipelines for the waits that last until something outside recovers (a deduplication store, the dead-letter
/// topic): exponential backoff with jitter, so that the members of a group, and the records of a member, do not come
/// back to a recovering database or broker in lockstep.
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
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } e && !args.Context.CancellationToken.IsCancellationRequested && handles(e)),
                OnRetry = args =>
                {
                    onRetry(args.Outcome.Exception!, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
}
