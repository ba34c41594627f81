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
        _table.CompleteAsync(key, owner, null, null, cancellationToken);

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
            try
            {
                if (!await table.CompleteAsync(key, owner, connection, transaction, cancellationToken).ConfigureAwait(false))
                {
                    await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                    return false;
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (PostgresException e) when (IsHandlersFault(e.SqlState))
            {
                throw new HandlerTransactionException(
                    $"The handler's transaction cannot be committed ({e.SqlState}: {e.MessageText}); the handler's writes are rolled back and the attempt failed.", e);
            }
        }

        /// <summary>
        /// Errors that the handler's own writes cause, the same way on every attempt: data exceptions (class 22),
        /// integrity constraint violations (class 23, e.g. a deferred constraint checked at commit), and a transaction
        /// the handler left aborted (25P02). Connection and server errors are the store's.
        /// </summary>
        private static bool IsHandlersFault(string sqlState) =>
            sqlState.StartsWith("22", StringComparison.Ordinal)
            || sqlState.StartsWith("23", StringComparison.Ordinal)
            || sqlState == PostgresErrorCodes.InFailedSqlTransaction;

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
