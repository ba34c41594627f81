namespace ReliableKafka.Deduplication;

/// <summary>
/// Thrown by a transactional deduplication store (<see cref="ITransactionalDeduplicationStore"/>) when the handler's
/// transaction cannot be committed because of what the handler did, not because the store is unreachable: a
/// constraint or data error found at commit (a deferred foreign key or unique constraint, say), or a transaction
/// the handler left aborted (it caught an error of its own and returned), or a transaction the handler ended itself. The
/// attempt failed like a handler that threw: it is retried in place (unless <see cref="IsRetriable"/> is false), then the
/// consumer's failure policy applies. Store outages are reported with other exceptions, and make the record wait instead.
/// </summary>
public sealed class HandlerTransactionException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="HandlerTransactionException"/> class.</summary>
    public HandlerTransactionException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="HandlerTransactionException"/> class.</summary>
    /// <param name="message">What failed.</param>
    public HandlerTransactionException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="HandlerTransactionException"/> class.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="innerException">The database's error.</param>
    public HandlerTransactionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="HandlerTransactionException"/> class.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="innerException">The database's error, or <see langword="null"/>.</param>
    /// <param name="isRetriable">Whether another attempt may succeed (see <see cref="IsRetriable"/>).</param>
    public HandlerTransactionException(string message, Exception? innerException, bool isRetriable)
        : base(message, innerException)
    {
        IsRetriable = isRetriable;
    }

    /// <summary>
    /// Gets a value indicating whether another attempt may succeed. False when the handler ended the transaction itself
    /// (committed, rolled back or disposed it): what it committed is in the database already, and another attempt would
    /// write it again, so the record goes to the failure policy at once.
    /// </summary>
    /// <value>The default is <see langword="true"/>.</value>
    public bool IsRetriable { get; } = true;
}
