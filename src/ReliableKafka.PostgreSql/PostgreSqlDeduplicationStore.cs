using ReliableKafka.Deduplication;
using ReliableKafka.PostgreSql.Internal;

namespace ReliableKafka.PostgreSql;

/// <summary>
/// A deduplication store in a PostgreSQL table (primary key: consumer group and message id), shared by every
/// member of a group on any machine. Each call is one round trip; leases use the database server's clock. The
/// completion is committed after the handler returned; for handlers whose effects are writes to the same database,
/// <see cref="PostgreSqlInboxStore"/> commits both together.
/// </summary>
public sealed class PostgreSqlDeduplicationStore : IDeduplicationStore, IAsyncDisposable, IDisposable
{
    private readonly PostgreSqlTable _table;

    /// <summary>Initializes a new instance of the <see cref="PostgreSqlDeduplicationStore"/> class. Nothing connects until the first call.</summary>
    /// <param name="options">The store's options; <see cref="PostgreSqlDeduplicationOptions.ConnectionString"/> is required.</param>
    public PostgreSqlDeduplicationStore(PostgreSqlDeduplicationOptions options) => _table = new PostgreSqlTable(options);

    /// <summary>The SQL that creates the schema and table (what <see cref="PostgreSqlDeduplicationOptions.CreateSchema"/> runs), for migrations of your own.</summary>
    /// <param name="options">The options naming the schema and table.</param>
    /// <returns>The SQL.</returns>
    public static string CreateSchemaSql(PostgreSqlDeduplicationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return PostgreSqlTable.CreateSchemaSql(options);
    }

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
    public ValueTask DisposeAsync() => _table.DisposeAsync();

    /// <inheritdoc/>
    public void Dispose() => _table.DisposeAsync().AsTask().GetAwaiter().GetResult();
}
