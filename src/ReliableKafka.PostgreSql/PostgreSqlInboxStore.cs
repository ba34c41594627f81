using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ReliableKafka.Deduplication;
using ReliableKafka.PostgreSql.Internal;

namespace ReliableKafka.PostgreSql;

/// <summary>
/// The PostgreSQL deduplication store as a transactional inbox: each handler attempt runs inside a transaction that
/// the handler reaches through <see cref="PostgreSqlInbox"/>, and the record's completion is written and committed
/// in that same transaction. Either the handler's writes and the completion are both committed, or neither is:
/// after a crash at any point, a record whose writes were committed is not handled again, and one whose writes
/// were not is handled again. That is exactly-once effects for writes to this database.
/// </summary>
public sealed class PostgreSqlInboxStore : ITransactionalDeduplicationStore, IAsyncDisposable, IDisposable
{
    private readonly PostgreSqlTable _table;

    /// <summary>Initializes a new instance of the <see cref="PostgreSqlInboxStore"/> class. Nothing connects until the first call.</summary>
    /// <param name="options">The store's options; <see cref="PostgreSqlDeduplicationOptions.ConnectionString"/> is required.</param>
    public PostgreSqlInboxStore(PostgreSqlDeduplicationOptions options) => _table = new PostgreSqlTable(options);

    /// <inheritdoc/>
    public ValueTask<ClaimResult> ClaimAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default) =>
        _table.ClaimAsync(key, owner, lease, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<bool> CompleteAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default) =>
        _table.CompleteAsync(key, owner, null, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<bool> RenewAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default) =>
        _table.RenewAsync(key, owner, lease, cancellationToken);

    /// <inheritdoc/>
    public ValueTask ReleaseAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default) =>
        _table.ReleaseAsync(key, owner, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<long> PurgeAsync(CancellationToken cancellationToken = default) => _table.PurgeAsync(cancellationToken);

    /// <inheritdoc/>
    public async ValueTask<IDeduplicationTransaction> BeginAsync(DeduplicationKey key, Guid owner, IServiceProvider handlerServices, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handlerServices);
        var inbox = handlerServices.GetService<PostgreSqlInbox>() ?? new PostgreSqlInbox();
        var connection = await _table.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            inbox.Enter(transaction);
            return new InboxTransaction(_table, key, owner, inbox, connection, transaction);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _table.DisposeAsync();

    /// <inheritdoc/>
    public void Dispose() => _table.DisposeAsync().AsTask().GetAwaiter().GetResult();

    private sealed class InboxTransaction(
        PostgreSqlTable table, DeduplicationKey key, Guid owner, PostgreSqlInbox inbox, NpgsqlConnection connection, NpgsqlTransaction transaction)
        : IDeduplicationTransaction
    {
        public async ValueTask<bool> CompleteAsync(CancellationToken cancellationToken = default)
        {
            var completed = false;
            try
            {
                if (!await table.CompleteAsync(key, owner, connection, cancellationToken).ConfigureAwait(false))
                {
                    await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                    return false;
                }

                completed = true;
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (Exception e) when (completed && e is InvalidOperationException or ObjectDisposedException)
            {
                // The completion ran in a transaction, but the transaction object is finished: the handler committed the
                // inbox transaction and began another on the connection. Its first writes are committed already.
                throw new HandlerTransactionException(
                    $"The handler ended the inbox transaction itself and began another ({e.Message}); the consumer commits the inbox transaction with the record's completion, so a handler must not. " +
                    "Writes the handler committed are in the database although the record is not marked processed. The attempt is not retried.",
                    e,
                    isRetriable: false);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.NoActiveSqlTransaction)
            {
                // The completion's savepoint found no transaction block: the handler committed, rolled back or disposed
                // the transaction. Its writes may be committed already, so another attempt could write them again: the
                // attempt is not retried, the failure policy applies at once.
                throw new HandlerTransactionException(
                    "The handler ended the inbox transaction itself (committed, rolled back or disposed it); the consumer commits it with the record's completion, so a handler must not. " +
                    "Writes the handler committed are in the database although the record is not marked processed. The attempt is not retried.",
                    e,
                    isRetriable: false);
            }
            catch (PostgresException e) when (IsHandlersFault(e.SqlState))
            {
                throw new HandlerTransactionException(
                    $"The handler's transaction cannot be committed ({e.SqlState}: {e.MessageText}); the handler's writes are rolled back and the attempt failed.", e);
            }
            catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException && connection.State == System.Data.ConnectionState.Open)
            {
                // The connection is fine but the handler left it unusable (a reader still open, a command in progress, the
                // transaction object disposed after the server's transaction ended).
                throw new HandlerTransactionException($"The handler left the inbox connection or transaction unusable ({e.Message}); the attempt failed.", e);
            }
        }

        /// <summary>
        /// Errors of the handler's transaction itself: data exceptions (class 22), integrity constraint violations
        /// (class 23, e.g. a deferred constraint checked at commit), a transaction the handler left aborted (25P02), and
        /// a serialization failure or deadlock at commit (40001, 40P01), which another attempt may get past. Connection
        /// and server errors are the store's.
        /// </summary>
        private static bool IsHandlersFault(string sqlState) =>
            sqlState.StartsWith("22", StringComparison.Ordinal)
            || sqlState.StartsWith("23", StringComparison.Ordinal)
            || sqlState is PostgresErrorCodes.InFailedSqlTransaction or PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected;

        public async ValueTask DisposeAsync()
        {
            inbox.Leave();
            try
            {
                // Disposing a transaction that was not committed rolls it back (on a broken connection, the server
                // rolls it back when the connection drops).
                await transaction.DisposeAsync().ConfigureAwait(false);
            }
            catch (NpgsqlException)
            {
            }
            finally
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
