namespace ReliableKafka.Deduplication;

/// <summary>
/// An attempt gave up waiting for another owner's claim on the same message (see
/// <see cref="DeduplicationOptions.ClaimWaitTimeout"/>); like a failing handler, it is retried and then meets the
/// consumer's failure policy.
/// </summary>
public sealed class DeduplicationClaimTimeoutException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="DeduplicationClaimTimeoutException"/> class.</summary>
    public DeduplicationClaimTimeoutException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="DeduplicationClaimTimeoutException"/> class.</summary>
    /// <param name="message">The message.</param>
    public DeduplicationClaimTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="DeduplicationClaimTimeoutException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public DeduplicationClaimTimeoutException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
