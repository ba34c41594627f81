namespace ReliableKafka.Deduplication.Internal;

/// <summary>
/// The deduplication protocol of a record must start over without the attempt counting as a handler failure: the
/// store failed (<see cref="StoreFailed"/>), or a transactional completion found its claim taken over.
/// </summary>
internal sealed class DeduplicationRetryException : Exception
{
    public DeduplicationRetryException()
    {
    }

    public DeduplicationRetryException(string message)
        : base(message)
    {
    }

    public DeduplicationRetryException(string message, Exception innerException)
        : base(message, innerException) => StoreFailed = true;

    /// <summary>Gets whether the store failed (as opposed to a claim taken over).</summary>
    public bool StoreFailed { get; }
}
