using Microsoft.Data.Sqlite;
using ReliableKafka.Deduplication;
using ReliableKafka.Deduplication.Internal;

namespace ReliableKafka.Sqlite;

/// <summary>
/// A deduplication store in a SQLite database file (WAL mode): embedded, durable across process restarts, for the
/// consumers of one machine. Several processes may share the file. One connection per store serializes its calls,
/// which SQLite would do for writes anyway; concurrent claims, and concurrent completions, are batched into one
/// transaction (one commit) each.
/// </summary>
public sealed class SqliteDeduplicationStore : IDeduplicationStore, IDisposable, IAsyncDisposable
{
    private readonly SqliteDeduplicationOptions _options;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private const int MaxBatch = 500;
    private readonly string _table;
    private readonly Batcher<DeduplicationKey, (DeduplicationKey Key, Guid Owner, TimeSpan Lease), ClaimResult> _claims;
    private readonly Batcher<DeduplicationKey, (DeduplicationKey Key, Guid Owner), bool> _completions;
    private SqliteConnection? _connection;
    private SqliteCommand? _claim;
    private SqliteCommand? _read;
    private SqliteCommand? _complete;
    private SqliteCommand? _release;
    private SqliteCommand? _renew;
    private bool _disposed;

    /// <summary>Initializes a new instance of the <see cref="SqliteDeduplicationStore"/> class. The database is opened (and the table created) on first use.</summary>
    /// <param name="options">The store's options; <see cref="SqliteDeduplicationOptions.ConnectionString"/> is required.</param>
    /// <param name="time">The clock for leases and retention; <see langword="null"/> for the system clock.</param>
    public SqliteDeduplicationStore(SqliteDeduplicationOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.ConnectionString, nameof(options));
        SqlIdentifier.Require(options.TableName, "TableName", nameof(options));

        _options = options;
        _table = options.TableName;
        _time = time ?? TimeProvider.System;
        _claims = new(r => r.Key, ClaimBatchAsync, MaxBatch, maxInFlight: 1);
        _completions = new(r => r.Key, CompleteBatchAsync, MaxBatch, maxInFlight: 1);
    }

    /// <inheritdoc/>
    public ValueTask<ClaimResult> ClaimAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        key = StoredMessageId.Of(key);
        return BatchedClaim.WaitAsync(_claims.RunAsync((key, owner, lease)), () => ReleaseStoredAsync(key, owner, CancellationToken.None), cancellationToken);
    }

    /// <inheritdoc/>
    public async ValueTask<bool> CompleteAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default) =>
        await _completions.RunAsync((StoredMessageId.Of(key), owner)).WaitAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    public async ValueTask<bool> RenewAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        key = StoredMessageId.Of(key);
        await EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Bind(_renew!, key, owner);
            _renew!.Parameters["$expires"].Value = Now() + (long)lease.TotalMilliseconds;
            return _renew.ExecuteNonQuery() == 1;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public ValueTask ReleaseAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default) =>
        ReleaseStoredAsync(StoredMessageId.Of(key), owner, cancellationToken);

    /// <summary>Releases a key already in its stored form (<see cref="StoredMessageId"/> is applied once, at the entry points).</summary>
    private async ValueTask ReleaseStoredAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken)
    {
        await EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Bind(_release!, key, owner);
            _release!.ExecuteNonQuery();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask<long> PurgeAsync(CancellationToken cancellationToken = default)
    {
        await EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var purge = _connection!.CreateCommand();
            purge.CommandText = $"DELETE FROM {_table} WHERE completed_at < $cutoff OR (completed_at IS NULL AND lease_expires_at < $cutoff)";
            purge.Parameters.AddWithValue("$cutoff", Now() - (long)_options.Retention.TotalMilliseconds);
            return purge.ExecuteNonQuery();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _gate.Wait();
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var command in new[] { _claim, _read, _complete, _release, _renew })
            {
                command?.Dispose();
            }

            _connection?.Dispose();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<IReadOnlyList<ClaimResult>> ClaimBatchAsync(IReadOnlyList<(DeduplicationKey Key, Guid Owner, TimeSpan Lease)> batch, CancellationToken cancellationToken)
    {
        await EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return InTransaction(() =>
            {
                var now = Now();
                var results = new ClaimResult[batch.Count];
                for (var i = 0; i < batch.Count; i++)
                {
                    var (key, owner, lease) = batch[i];
                    Bind(_claim!, key, owner);
                    _claim!.Parameters["$now"].Value = now;
                    _claim.Parameters["$expires"].Value = now + (long)lease.TotalMilliseconds;
                    results[i] = _claim.ExecuteNonQuery() == 1 ? ClaimResult.Claimed : ReadClaim(key, owner);
                }

                return results;
            });
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<IReadOnlyList<bool>> CompleteBatchAsync(IReadOnlyList<(DeduplicationKey Key, Guid Owner)> batch, CancellationToken cancellationToken)
    {
        await EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return InTransaction(() =>
            {
                var now = Now();
                var results = new bool[batch.Count];
                for (var i = 0; i < batch.Count; i++)
                {
                    Bind(_complete!, batch[i].Key, batch[i].Owner);
                    _complete!.Parameters["$now"].Value = now;
                    results[i] = _complete.ExecuteNonQuery() == 1;
                }

                return results;
            });
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Why a claim did not succeed: completed before, or held by another owner (until when).</summary>
    private ClaimResult ReadClaim(DeduplicationKey key, Guid owner)
    {
        Bind(_read!, key, owner);
        using var reader = _read!.ExecuteReader();
        if (!reader.Read())
        {
            // Released or purged in between: free to claim, so try again.
            return new ClaimResult(ClaimStatus.InProgressElsewhere, _time.GetUtcNow());
        }

        return !reader.IsDBNull(1)
            ? ClaimResult.AlreadyProcessed
            : new ClaimResult(ClaimStatus.InProgressElsewhere, DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0)));
    }

    /// <summary>Runs <paramref name="work"/> in one write transaction (taken at once, so that it cannot deadlock with another process).</summary>
    private T InTransaction<T>(Func<T> work)
    {
        using var transaction = _connection!.BeginTransaction(deferred: false);
        foreach (var command in new[] { _claim!, _read!, _complete! })
        {
            command.Transaction = transaction;
        }

        try
        {
            var result = work();
            transaction.Commit();
            return result;
        }
        finally
        {
            foreach (var command in new[] { _claim!, _read!, _complete! })
            {
                command.Transaction = null;
            }
        }
    }

    private static void Bind(SqliteCommand command, DeduplicationKey key, Guid owner)
    {
        command.Parameters["$scope"].Value = key.Scope;
        command.Parameters["$id"].Value = key.MessageId;
        command.Parameters["$owner"].Value = owner.ToByteArray();
    }

    private long Now() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Takes the connection, opening it and creating the table on first use (again after a failed open).</summary>
    private async ValueTask EnterAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connection is null)
            {
                Open();
            }
        }
        catch
        {
            _gate.Release();
            throw;
        }
    }

    private void Open()
    {
        var connection = new SqliteConnection(_options.ConnectionString);
        try
        {
            connection.Open();
            Execute(connection, "PRAGMA journal_mode=WAL");
            Execute(connection, $"PRAGMA synchronous={(_options.FlushEveryWrite ? "FULL" : "NORMAL")}");
            Execute(connection, "PRAGMA busy_timeout=10000");
            Execute(connection, $"""
                CREATE TABLE IF NOT EXISTS {_table} (
                    scope TEXT NOT NULL,
                    message_id TEXT NOT NULL,
                    owner BLOB NOT NULL,
                    lease_expires_at INTEGER NOT NULL,
                    completed_at INTEGER NULL,
                    PRIMARY KEY (scope, message_id)
                ) WITHOUT ROWID
                """);
            Execute(connection, $"CREATE INDEX IF NOT EXISTS {_table}_completed_at ON {_table} (completed_at)");

            _claim = Prepare(connection, $"""
                INSERT INTO {_table} (scope, message_id, owner, lease_expires_at) VALUES ($scope, $id, $owner, $expires)
                ON CONFLICT (scope, message_id) DO UPDATE SET owner = excluded.owner, lease_expires_at = excluded.lease_expires_at
                WHERE completed_at IS NULL AND (lease_expires_at <= $now OR owner = excluded.owner)
                """, "$now", "$expires");
            _read = Prepare(connection, $"SELECT lease_expires_at, completed_at FROM {_table} WHERE scope = $scope AND message_id = $id");
            _complete = Prepare(connection, $"UPDATE {_table} SET completed_at = COALESCE(completed_at, $now) WHERE scope = $scope AND message_id = $id AND owner = $owner", "$now");
            _release = Prepare(connection, $"DELETE FROM {_table} WHERE scope = $scope AND message_id = $id AND owner = $owner AND completed_at IS NULL");
            _renew = Prepare(connection, $"UPDATE {_table} SET lease_expires_at = $expires WHERE scope = $scope AND message_id = $id AND owner = $owner AND completed_at IS NULL", "$expires");
            _connection = connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static SqliteCommand Prepare(SqliteConnection connection, string sql, params string[] extra)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in (string[])["$scope", "$id", "$owner", .. extra])
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        command.Prepare();
        return command;
    }
}
