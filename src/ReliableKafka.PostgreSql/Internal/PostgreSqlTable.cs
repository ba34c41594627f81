using Npgsql;
using NpgsqlTypes;
using ReliableKafka.Deduplication;
using ReliableKafka.Deduplication.Internal;

namespace ReliableKafka.PostgreSql.Internal;

/// <summary>
/// The processed-messages table and its statements. Concurrent claims, and concurrent completions, are batched:
/// one statement and one commit for many records (a batch that fails is tried again item by item, so that one id the
/// database refuses fails alone). Message ids are stored in a form the database accepts (<see cref="StoredMessageId"/>). Lease times come from the database server's clock, so that
/// members on machines whose clocks differ agree on when a lease expired.
/// </summary>
internal sealed class PostgreSqlTable : IAsyncDisposable
{
    private readonly PostgreSqlDeduplicationOptions _options;
    private readonly SemaphoreSlim _schemaGate = new(1, 1);
    private const int MaxBatch = 500;
    private const int MaxBatchesInFlight = 4;
    private const int MaxRenewalsInFlight = 2;
    private static readonly TimeSpan RenewalLockTimeout = TimeSpan.FromSeconds(2);
    private const int MaxReleasesInFlight = 1;

    /// <summary>
    /// How many connections of the main pool the store itself may use at once: claim and completion batches, a release
    /// batch, and the purge or schema creation. (Renewals use two connections of their own, outside the pool.) A
    /// transactional inbox adds one per running handler.
    /// </summary>
    public const int StoreConnections = MaxBatchesInFlight + MaxBatchesInFlight + MaxReleasesInFlight + 1;

    /// <summary>How many connections lease renewals use at most: of their own pool, or of the application's data source.</summary>
    public const int RenewalConnections = MaxRenewalsInFlight;

    private readonly string _claimSql;
    private readonly string _completeSql;
    private readonly string _completeBatchSql;
    private readonly string _renewBatchSql;
    private readonly Batcher<DeduplicationKey, (DeduplicationKey Key, Guid Owner, TimeSpan Lease), bool> _renewals;
    private readonly Batcher<DeduplicationKey, (DeduplicationKey Key, Guid Owner, TimeSpan Lease), ClaimResult> _claims;
    private readonly Batcher<DeduplicationKey, (DeduplicationKey Key, Guid Owner), bool> _completions;
    private readonly string _releaseBatchSql;
    private readonly Batcher<DeduplicationKey, (DeduplicationKey Key, Guid Owner), bool> _releases;
    private readonly NpgsqlDataSource _renewalSource;
    private readonly bool _ownsSources;
    private readonly ReservedConnections? _reservedRenewals;
    private readonly string _purgeSql;
    private volatile bool _schemaReady;

    public PostgreSqlTable(PostgreSqlDeduplicationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        SqlIdentifier.Require(options.Schema, "Schema", nameof(options));
        SqlIdentifier.Require(options.TableName, "TableName", nameof(options));

        _options = options;
        if (options.DataSource is { } shared)
        {
            // The application's data source (its password provider, say): used for everything, never disposed here.
            // Renewals keep connections of their own from it (the pool validation counts them in).
            _ownsSources = false;
            DataSource = shared;
            _renewalSource = shared;
            _reservedRenewals = new ReservedConnections(shared, MaxRenewalsInFlight, TimeProvider.System);
        }
        else
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(options.ConnectionString, nameof(options));
            _ownsSources = true;
            DataSource = NpgsqlDataSource.Create(options.ConnectionString);

            // Renewals have connections of their own: a pool drained by inbox handlers or slow claims must not let leases lapse.
            var renewal = new NpgsqlDataSourceBuilder(options.ConnectionString);
            renewal.ConnectionStringBuilder.MaxPoolSize = MaxRenewalsInFlight;
            renewal.ConnectionStringBuilder.MinPoolSize = 0;
            _renewalSource = renewal.Build();
        }
        var table = QualifiedName(options);
        _claimSql = $"""
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::interval[]) AS i (scope, message_id, owner, lease)),
            claimed AS (
                INSERT INTO {table} AS d (scope, message_id, owner, lease_expires_at)
                SELECT scope, message_id, owner, clock_timestamp() + lease FROM input ORDER BY scope, message_id
                ON CONFLICT (scope, message_id) DO UPDATE SET owner = excluded.owner, lease_expires_at = excluded.lease_expires_at
                WHERE d.completed_at IS NULL AND (d.lease_expires_at <= clock_timestamp() OR d.owner = excluded.owner)
                RETURNING d.scope, d.message_id)
            SELECT i.scope, i.message_id, c.message_id IS NOT NULL, e.completed_at IS NOT NULL, e.lease_expires_at
            FROM input AS i
            LEFT JOIN claimed AS c ON c.scope = i.scope AND c.message_id = i.message_id
            LEFT JOIN {table} AS e ON e.scope = i.scope AND e.message_id = i.message_id
            """;
        // Rows are locked in (scope, message_id) order, as claims lock them, so that concurrent batches never deadlock.
        _completeBatchSql = $"""
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[]) AS i (scope, message_id, owner)),
            locked AS (
                SELECT t.scope, t.message_id FROM {table} AS t
                JOIN input AS i ON t.scope = i.scope AND t.message_id = i.message_id AND t.owner = i.owner
                ORDER BY t.scope, t.message_id
                FOR UPDATE OF t)
            UPDATE {table} AS t SET completed_at = COALESCE(t.completed_at, clock_timestamp())
            FROM locked AS l
            WHERE t.scope = l.scope AND t.message_id = l.message_id
            RETURNING t.scope, t.message_id
            """;

        // A renewal only extends an open claim of its owner: it never inserts, and never takes a claim over.
        _renewBatchSql = $"""
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::interval[]) AS i (scope, message_id, owner, lease)),
            locked AS (
                SELECT t.scope, t.message_id, i.lease FROM {table} AS t
                JOIN input AS i ON t.scope = i.scope AND t.message_id = i.message_id AND t.owner = i.owner
                WHERE t.completed_at IS NULL
                ORDER BY t.scope, t.message_id
                FOR UPDATE OF t)
            UPDATE {table} AS t SET lease_expires_at = clock_timestamp() + l.lease
            FROM locked AS l
            WHERE t.scope = l.scope AND t.message_id = l.message_id AND t.completed_at IS NULL
            RETURNING t.scope, t.message_id
            """;
        _claims = new(r => r.Key, ClaimBatchAsync, MaxBatch, MaxBatchesInFlight, RefusedItem);
        _completions = new(r => r.Key, CompleteBatchAsync, MaxBatch, MaxBatchesInFlight, RefusedItem);

        // Renewals have a path of their own: a lease must not expire because renewals queue behind new claims.
        _renewals = new(r => r.Key, RenewBatchAsync, MaxBatch, MaxRenewalsInFlight, RefusedItem);
        _completeSql = $"UPDATE {table} SET completed_at = COALESCE(completed_at, clock_timestamp()) WHERE scope = $1 AND message_id = $2 AND owner = $3";
        _releaseBatchSql = $"""
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[]) AS i (scope, message_id, owner)),
            locked AS (
                SELECT t.scope, t.message_id FROM {table} AS t
                JOIN input AS i ON t.scope = i.scope AND t.message_id = i.message_id AND t.owner = i.owner
                WHERE t.completed_at IS NULL
                ORDER BY t.scope, t.message_id
                FOR UPDATE OF t)
            DELETE FROM {table} AS t USING locked AS l
            WHERE t.scope = l.scope AND t.message_id = l.message_id AND t.completed_at IS NULL
            RETURNING t.scope, t.message_id
            """;
        _releases = new(r => r.Key, ReleaseBatchAsync, MaxBatch, MaxReleasesInFlight, RefusedItem);
        _purgeSql = $"DELETE FROM {table} WHERE completed_at < clock_timestamp() - $1 OR (completed_at IS NULL AND lease_expires_at < clock_timestamp() - $1)";
    }

    public NpgsqlDataSource DataSource { get; }

    /// <summary>
    /// An error that one item of a batch can cause, so that the batch is tried again item by item: a data exception
    /// (class 22, an id the database cannot store), a program limit (class 54, a key beyond the index row limit), a
    /// lock not available in time (55P03, a renewal waiting behind one locked row). Outages and overload fail the
    /// batch as a whole.
    /// </summary>
    private static bool RefusedItem(Exception e) =>
        e is PostgresException { SqlState: var state }
        && (state.StartsWith("22", StringComparison.Ordinal) || state.StartsWith("54", StringComparison.Ordinal) || state == PostgresErrorCodes.LockNotAvailable);

    public static string QualifiedName(PostgreSqlDeduplicationOptions options) => $"{options.Schema}.{options.TableName}";

    public static string CreateSchemaSql(PostgreSqlDeduplicationOptions options) => $"""
        CREATE SCHEMA IF NOT EXISTS {options.Schema};
        CREATE TABLE IF NOT EXISTS {QualifiedName(options)} (
            scope text NOT NULL,
            message_id text NOT NULL,
            owner uuid NOT NULL,
            lease_expires_at timestamptz NOT NULL,
            completed_at timestamptz NULL,
            PRIMARY KEY (scope, message_id)
        );
        CREATE INDEX IF NOT EXISTS {options.TableName}_completed_at ON {QualifiedName(options)} (completed_at);
        """;

    /// <summary>Claims through the batcher (see <see cref="BatchedClaim"/>).</summary>
    public async ValueTask<ClaimResult> ClaimAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken)
    {
        key = StoredMessageId.Of(key);
        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        return await BatchedClaim.WaitAsync(
            _claims.RunAsync((key, owner, lease)), () => ReleaseStoredAsync(key, owner, CancellationToken.None), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Completes on its own through the batcher, or, with a connection, in the transaction open on it.</summary>
    public async ValueTask<bool> CompleteAsync(DeduplicationKey key, Guid owner, NpgsqlConnection? connection, CancellationToken cancellationToken)
    {
        key = StoredMessageId.Of(key);
        if (connection is null)
        {
            return await _completions.RunAsync((key, owner)).WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        // The savepoint fails (25P01) unless the connection is inside a transaction block, so the completion is never
        // written outside the handler's transaction: a handler may have committed, rolled back or disposed it (Npgsql 8
        // then runs a command in autocommit mode; Npgsql 10 refuses the finished transaction object, which is why the
        // batch does not name it). Sent in one batch, a failed savepoint keeps the update from running; the savepoint
        // is released at once, so the update does not take a subtransaction id.
        var batch = new NpgsqlBatch(connection);
        await using (batch.ConfigureAwait(false))
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SAVEPOINT reliablekafka_completion"));
            batch.BatchCommands.Add(new NpgsqlBatchCommand("RELEASE SAVEPOINT reliablekafka_completion"));
            var update = new NpgsqlBatchCommand(_completeSql);
            AddKey(update.Parameters, key, owner);
            batch.BatchCommands.Add(update);
            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return update.RecordsAffected == 1;
        }
    }

    /// <summary>Extends an open claim of its owner, through the renewals' own batcher.</summary>
    public async ValueTask<bool> RenewAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken) =>
        await _renewals.RunAsync((StoredMessageId.Of(key), owner, lease)).WaitAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>Releases an open claim of its owner, through the releases' batcher.</summary>
    public ValueTask ReleaseAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken) =>
        ReleaseStoredAsync(StoredMessageId.Of(key), owner, cancellationToken);

    /// <summary>Releases a key already in its stored form (<see cref="StoredMessageId"/> is applied once, at the entry points).</summary>
    private async ValueTask ReleaseStoredAsync(DeduplicationKey stored, Guid owner, CancellationToken cancellationToken) =>
        await _releases.RunAsync((stored, owner)).WaitAsync(cancellationToken).ConfigureAwait(false);

    public async ValueTask<long> PurgeAsync(CancellationToken cancellationToken)
    {
        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        var command = DataSource.CreateCommand(_purgeSql);
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = _options.Retention, NpgsqlDbType = NpgsqlDbType.Interval });
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_reservedRenewals is not null)
        {
            await _reservedRenewals.DisposeAsync().ConfigureAwait(false);
        }

        if (_ownsSources)
        {
            await DataSource.DisposeAsync().ConfigureAwait(false);
            await _renewalSource.DisposeAsync().ConfigureAwait(false);
        }

        _schemaGate.Dispose();
    }

    private async Task<IReadOnlyList<ClaimResult>> ClaimBatchAsync(IReadOnlyList<(DeduplicationKey Key, Guid Owner, TimeSpan Lease)> batch, CancellationToken cancellationToken)
    {
        var command = DataSource.CreateCommand(_claimSql);
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. batch.Select(r => r.Key.Scope)] });
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. batch.Select(r => r.Key.MessageId)] });
            command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. batch.Select(r => r.Owner)] });
            command.Parameters.Add(new NpgsqlParameter<TimeSpan[]> { TypedValue = [.. batch.Select(r => r.Lease)], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Interval });
            var answers = new Dictionary<DeduplicationKey, ClaimResult>(batch.Count);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var key = new DeduplicationKey(reader.GetString(0), reader.GetString(1));
                    answers[key] = reader.GetBoolean(2) ? ClaimResult.Claimed
                        : !reader.IsDBNull(3) && reader.GetBoolean(3) ? ClaimResult.AlreadyProcessed

                        // Held by another owner; or inserted by one after this statement's snapshot began (expiry unknown).
                        : new ClaimResult(ClaimStatus.InProgressElsewhere, reader.IsDBNull(4) ? null : new DateTimeOffset(reader.GetFieldValue<DateTime>(4), TimeSpan.Zero));
                }
            }

            return [.. batch.Select(r => answers[r.Key])];
        }
    }

    private Task<IReadOnlyList<bool>> CompleteBatchAsync(IReadOnlyList<(DeduplicationKey Key, Guid Owner)> batch, CancellationToken cancellationToken) =>
        KeyedBatchAsync(DataSource, _completeBatchSql, batch, leases: null, cancellationToken);

    private Task<IReadOnlyList<bool>> ReleaseBatchAsync(IReadOnlyList<(DeduplicationKey Key, Guid Owner)> batch, CancellationToken cancellationToken) =>
        KeyedBatchAsync(DataSource, _releaseBatchSql, batch, leases: null, cancellationToken);

    /// <summary>
    /// Renews in a transaction of its own that waits at most <see cref="RenewalLockTimeout"/> for a row lock (a claim
    /// locked elsewhere, say by an inbox transaction whose commit stalls), so that one such row holds back no other
    /// claim's renewal for long. SET LOCAL works through transaction-pooling proxies such as PgBouncer.
    /// </summary>
    private async Task<IReadOnlyList<bool>> RenewBatchAsync(IReadOnlyList<(DeduplicationKey Key, Guid Owner, TimeSpan Lease)> batch, CancellationToken cancellationToken)
    {
        // A renewal that hangs (a connection dropped without a word) must give up while the next renewal can still
        // come in time: within a third of the shortest lease in the batch.
        var shortest = batch.Min(r => r.Lease);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(shortest / 3 > TimeSpan.FromSeconds(1) ? shortest / 3 : TimeSpan.FromSeconds(1));
        var token = deadline.Token;
        if (_reservedRenewals is not { } reserved)
        {
            var connection = await _renewalSource.OpenConnectionAsync(token).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                return await RenewBatchAsync(connection, batch, token).ConfigureAwait(false);
            }
        }

        while (true)
        {
            var (held, fresh) = await reserved.RentAsync(token).ConfigureAwait(false);
            try
            {
                return await RenewBatchAsync(held, batch, token).ConfigureAwait(false);
            }
            catch (NpgsqlException e) when (!fresh && e is not PostgresException && !token.IsCancellationRequested)
            {
                // A kept connection that turned out dead: once more, on a connection opened now (renewing is idempotent).
                await held.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                await reserved.ReturnAsync(held).ConfigureAwait(false);
            }
        }
    }

    private async Task<IReadOnlyList<bool>> RenewBatchAsync(
        NpgsqlConnection connection, IReadOnlyList<(DeduplicationKey Key, Guid Owner, TimeSpan Lease)> batch, CancellationToken cancellationToken)
    {
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                var timeout = new NpgsqlCommand($"SET LOCAL lock_timeout = {(int)RenewalLockTimeout.TotalMilliseconds}", connection, transaction);
                await using (timeout.ConfigureAwait(false))
                {
                    await timeout.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                var renewed = await KeyedBatchAsync(
                    new NpgsqlCommand(_renewBatchSql, connection, transaction),
                    [.. batch.Select(r => (r.Key, r.Owner))],
                    [.. batch.Select(r => r.Lease)],
                    cancellationToken).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return renewed;
            }
        }
    }

    /// <summary>
    /// Runs a statement over (scope, id, owner) arrays, and a lease array when given; true for each item whose row it
    /// returned.
    /// </summary>
    private static Task<IReadOnlyList<bool>> KeyedBatchAsync(
        NpgsqlDataSource source, string sql, IReadOnlyList<(DeduplicationKey Key, Guid Owner)> batch, TimeSpan[]? leases, CancellationToken cancellationToken) =>
        KeyedBatchAsync(source.CreateCommand(sql), batch, leases, cancellationToken);

    private static async Task<IReadOnlyList<bool>> KeyedBatchAsync(
        NpgsqlCommand command, IReadOnlyList<(DeduplicationKey Key, Guid Owner)> batch, TimeSpan[]? leases, CancellationToken cancellationToken)
    {
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. batch.Select(r => r.Key.Scope)] });
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. batch.Select(r => r.Key.MessageId)] });
            command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. batch.Select(r => r.Owner)] });
            if (leases is not null)
            {
                command.Parameters.Add(new NpgsqlParameter<TimeSpan[]> { TypedValue = leases, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Interval });
            }

            var returned = new HashSet<DeduplicationKey>();
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    returned.Add(new DeduplicationKey(reader.GetString(0), reader.GetString(1)));
                }
            }

            return [.. batch.Select(r => returned.Contains(r.Key))];
        }
    }

    private static void AddKey(NpgsqlCommand command, DeduplicationKey key, Guid owner) => AddKey(command.Parameters, key, owner);

    private static void AddKey(NpgsqlParameterCollection parameters, DeduplicationKey key, Guid owner)
    {
        parameters.Add(new NpgsqlParameter<string> { TypedValue = key.Scope });
        parameters.Add(new NpgsqlParameter<string> { TypedValue = key.MessageId });
        parameters.Add(new NpgsqlParameter<Guid> { TypedValue = owner });
    }

    /// <summary>Creates the schema and table once, when allowed; concurrent creators are serialized by an advisory lock.</summary>
    private async ValueTask EnsureSchemaAsync(CancellationToken cancellationToken)
    {
        if (_schemaReady || !_options.CreateSchema)
        {
            return;
        }

        await _schemaGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_schemaReady)
            {
                return;
            }

            var connection = await DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    var command = new NpgsqlCommand($"SELECT pg_advisory_xact_lock(hashtext('reliablekafka-dedup-schema')); {CreateSchemaSql(_options)}", connection, transaction);
                    await using (command.ConfigureAwait(false))
                    {
                        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }

                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            _schemaReady = true;
        }
        finally
        {
            _schemaGate.Release();
        }
    }
}
