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
    /// Builds the pipeline that runs an asynchronous deserializer (Schema Registry's, say): its failure is retried when
    /// the deserializer's own exception is transient by <see cref="RetryOptions.IsTransient"/> (the registry may be
    /// unreachable for a moment), as often and as spaced as handler attempts; then the record is poison. A custom
    /// <see cref="RetryOptions.Pipeline"/> is used as it is.
    /// </summary>
    public static ResiliencePipeline BuildForDeserialization(RetryOptions options, TimeProvider time, Action<MessageDeserializationException, int> onRetry)
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
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is MessageDeserializationException { InnerException: { } cause }
                    && !args.Context.CancellationToken.IsCancellationRequested
                    && (options.IsTransient ?? RetryOptions.IsTransientByDefault)(cause)),
                OnRetry = args =>
                {
                    onRetry((MessageDeserializationException)args.Outcome.Exception!, args.AttemptNumber + 1);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    /// <summary>
    /// Whether the pipeline built from <paramref name="options"/> tries again after <paramref name="error"/> (attempts
    /// left permitting). Never for a record that cannot be deserialized. Unknown for a custom pipeline: false.
    /// </summary>
    public static bool IsRetriable(RetryOptions options, Exception error) =>
        options.Pipeline is null
        && error is not (MessageDeserializationException or Deduplication.Internal.DeduplicationRetryException)
        && (options.IsTransient ?? RetryOptions.IsTransientByDefault)(error);
}
