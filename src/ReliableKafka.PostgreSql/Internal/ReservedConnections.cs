using System.Data;
using Npgsql;

namespace ReliableKafka.PostgreSql.Internal;

/// <summary>
/// A few connections taken from the application's data source and kept (not given back to its pool), so that lease
/// renewals never wait for a pool the application's own work has drained: a renewal that waited past the lease would
/// let another member take over a record that is still being handled. A connection idle for longer than
/// <see cref="MaxIdle"/> is replaced (a firewall or server may have dropped it silently), and one that broke is dropped.
/// </summary>
internal sealed class ReservedConnections(NpgsqlDataSource source, int count, TimeProvider time) : IAsyncDisposable
{
    /// <summary>How long a kept connection may sit idle before it is replaced rather than trusted.</summary>
    public static readonly TimeSpan MaxIdle = TimeSpan.FromSeconds(60);

    private readonly SemaphoreSlim _slots = new(count, count);
    private readonly Queue<(NpgsqlConnection Connection, long ReturnedAt)> _idle = new();
    private bool _disposed;

    /// <summary>Takes one of the reserved connections: a kept one that is open and was used recently, else a new one.</summary>
    /// <returns>The connection, and whether it was opened just now (a failure on a kept one may be its staleness).</returns>
    public async ValueTask<(NpgsqlConnection Connection, bool Fresh)> RentAsync(CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (TakeIdle() is { } kept)
            {
                if (kept.Connection.State == ConnectionState.Open && time.GetElapsedTime(kept.ReturnedAt) < MaxIdle)
                {
                    return (kept.Connection, false);
                }

                await DisposeQuietlyAsync(kept.Connection).ConfigureAwait(false);
            }

            lock (_idle)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
            }

            return (await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false), true);
        }
        catch
        {
            _slots.Release();
            throw;
        }
    }

    /// <summary>Gives a connection back to the reserve; a broken one (or any, once disposed) is closed instead.</summary>
    public async ValueTask ReturnAsync(NpgsqlConnection connection)
    {
        try
        {
            bool kept;
            lock (_idle)
            {
                kept = !_disposed && connection.State == ConnectionState.Open;
                if (kept)
                {
                    _idle.Enqueue((connection, time.GetTimestamp()));
                }
            }

            if (!kept)
            {
                await DisposeQuietlyAsync(connection).ConfigureAwait(false);
            }
        }
        finally
        {
            _slots.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<NpgsqlConnection> idle;
        lock (_idle)
        {
            _disposed = true;
            idle = [.. _idle.Select(i => i.Connection)];
            _idle.Clear();
        }

        foreach (var connection in idle)
        {
            await DisposeQuietlyAsync(connection).ConfigureAwait(false);
        }
    }

    private (NpgsqlConnection Connection, long ReturnedAt)? TakeIdle()
    {
        lock (_idle)
        {
            return _idle.TryDequeue(out var idle) ? idle : null;
        }
    }

    private static async ValueTask DisposeQuietlyAsync(NpgsqlConnection connection)
    {
        try
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or ObjectDisposedException)
        {
            // Closing a connection that broke: nothing to keep.
        }
    }
}
