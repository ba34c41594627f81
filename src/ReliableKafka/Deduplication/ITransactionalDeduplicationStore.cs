namespace ReliableKafka.Deduplication;

/// <summary>
/// A store whose completion record can be written in the same database transaction as the handler's own writes
/// (a transactional inbox): either both are committed or neither is, so a crash at any point gives exactly-once
/// effects in that database.
/// </summary>
public interface ITransactionalDeduplicationStore : IDeduplicationStore
{
    /// <summary>
    /// Begins the transaction for a claimed message, before its handler runs, and makes it available to the handler
    /// through <paramref name="handlerServices"/> (the handler's DI scope).
    /// </summary>
    /// <param name="key">The claimed message.</param>
    /// <param name="owner">The owner that claimed it.</param>
    /// <param name="handlerServices">The services of the handler's scope.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The transaction; disposing it without <see cref="IDeduplicationTransaction.CompleteAsync"/> rolls it back.</returns>
    ValueTask<IDeduplicationTransaction> BeginAsync(DeduplicationKey key, Guid owner, IServiceProvider handlerServices, CancellationToken cancellationToken = default);
}
