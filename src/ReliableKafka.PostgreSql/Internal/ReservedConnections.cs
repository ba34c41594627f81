using System.Collections.Concurrent;
using System.Data;
using Npgsql;

namespace ReliableKafka.PostgreSql.Internal;

/// <summary>
/// A few connections taken from the application's data source and kept (never given back to its pool), so that lease
/// renewals never wait for a pool the application's own work has drained: a renewal that waited past the lease would
/// let another member take over a record that is still being handled. A connection that broke is dropped and replaced
/// on the next use.
/// </summary>
internal sealed class ReservedConnections(NpgsqlDataSource source, int count) : IAsyncDisposable
{
    private readonly SemaphoreSlim _slots = new(count, count);
    private readonly ConcurrentQueue<NpgsqlConnection> _idle = new();
    private volatile bool _disposed;

    /// <summary>Takes one of the reserved connections (opening it the first time, or after it broke).</summary>
    public async ValueTask<NpgsqlConnection> RentAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (_idle.TryDequeue(out var connection))
            {
                if (connection.State == ConnectionState.Open)
                {
                    return connection;
                }

                await connection.DisposeAsync().ConfigureAwait(false);
            }

            return await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
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
        if (connection.State == ConnectionState.Open && !_disposed)
        {
            _idle.Enqueue(connection);
        }
        else
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        _slots.Release();
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        while (_idle.TryDequeue(out var connection))
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
