namespace ReliableKafka.Deduplication;

/// <summary>
/// Thrown by a transactional deduplication store (<see cref="ITransactionalDeduplicationStore"/>) when the handler's
/// transaction cannot be committed because of what the handler did, not because the store is unreachable: a
/// constraint or data error found at commit (a deferred foreign key or unique constraint, say), or a transaction
/// the handler left aborted (it caught an error of its own and returned). The attempt failed like a handler that
/// threw: it is retried in place, then the consumer's failure policy applies. Store outages are reported with other
/// exceptions, and make the record wait instead.
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
}
