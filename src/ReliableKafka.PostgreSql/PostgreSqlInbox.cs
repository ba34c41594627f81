using Npgsql;

namespace ReliableKafka.PostgreSql;

/// <summary>
/// The database transaction a handler runs in when the PostgreSQL store is a transactional inbox
/// (<see cref="PostgreSqlDeduplicationOptions.TransactionalInbox"/>). Inject it into the handler (it is scoped) and run
/// your commands on <see cref="Connection"/> within <see cref="Transaction"/>; do not commit or roll back yourself:
/// the consumer commits it with the record's completion when the handler returns, and rolls it back when it throws.
/// </summary>
public sealed class PostgreSqlInbox
{
    private NpgsqlTransaction? _transaction;

    /// <summary>Gets the open connection of the handler's transaction.</summary>
    /// <exception cref="InvalidOperationException">Outside a handler of a consumer whose store is a transactional inbox.</exception>
    public NpgsqlConnection Connection => Transaction.Connection
        ?? throw new InvalidOperationException("The inbox transaction has ended; use it only inside the handler.");

    /// <summary>Gets the handler's transaction.</summary>
    /// <exception cref="InvalidOperationException">Outside a handler of a consumer whose store is a transactional inbox.</exception>
    public NpgsqlTransaction Transaction => _transaction ?? throw new InvalidOperationException(
        "No inbox transaction: PostgreSqlInbox is only available inside a handler of a consumer that deduplicates with UsePostgreSqlDeduplication(o => o.TransactionalInbox = true).");

    /// <summary>Gets whether the handler runs inside an inbox transaction.</summary>
    public bool IsActive => _transaction is not null;

    internal void Enter(NpgsqlTransaction transaction) => _transaction = transaction;

    internal void Leave() => _transaction = null;
}
