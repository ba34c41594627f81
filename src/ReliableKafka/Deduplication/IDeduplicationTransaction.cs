namespace ReliableKafka.Deduplication;

/// <summary>The database transaction a handler runs in (see <see cref="ITransactionalDeduplicationStore"/>).</summary>
public interface IDeduplicationTransaction : IAsyncDisposable
{
    /// <summary>Records the completion in the transaction and commits it together with the handler's writes.</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>
    /// <see langword="true"/> when committed; <see langword="false"/> when the owner no longer held the claim, in which
    /// case the transaction (with the handler's writes) was rolled back.
    /// </returns>
    ValueTask<bool> CompleteAsync(CancellationToken cancellationToken = default);
}
