using Polly;
using Polly.Retry;

namespace ReliableKafka.Failures.Internal;

/// <summary>Builds the Polly pipeline that runs a record's handler attempts.</summary>
internal static class RetryPipelines
{
    public static ResiliencePipeline Build(RetryOptions options, TimeProvider time)
    {
        if (options.Pipeline is { } custom)
        {
            return custom;
        }

        if (options.MaxAttempts <= 1)
        {
            return ResiliencePipeline.Empty;
        }

        return new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxAttempts - 1,
                Delay = options.InitialDelay,
                MaxDelay = options.MaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,

                // An exception because the work was abandoned is not a failure to retry; a timeout inside the
                // handler (an OperationCanceledException of its own) is.
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } e
                    && !args.Context.CancellationToken.IsCancellationRequested
                    && IsRetriable(options, e)),
            })
            .Build();
    }

    /// <summary>
    /// Whether the pipeline built from <paramref name="options"/> tries again after <paramref name="error"/> (attempts
    /// left permitting). Never for a record that cannot be deserialized. Unknown for a custom pipeline: false.
    /// </summary>
    public static bool IsRetriable(RetryOptions options, Exception error) =>
        options.Pipeline is null
        && error is not (MessageDeserializationException or Deduplication.Internal.DeduplicationRetryException or Deduplication.HandlerTransactionException { IsRetriable: false })
        && (options.IsTransient ?? RetryOptions.IsTransientByDefault)(error);
}
