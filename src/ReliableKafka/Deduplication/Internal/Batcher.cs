using System.Collections.Concurrent;

namespace ReliableKafka.Deduplication.Internal;

/// <summary>
/// Groups concurrent calls into batches, so that many records cost one statement and one commit: a call runs at
/// once when nothing is in flight; calls made while batches run are gathered into the next one. At most
/// <paramref name="maxInFlight"/> batches run at once, each with at most <paramref name="maxBatch"/> requests and no
/// two requests with the same key (one statement may touch a row only once). A batch that fails with an error that
/// one request can cause (<paramref name="refusedItem"/>; by default any) is run again one request at a time, so that
/// a request the database refuses fails alone; other errors (the database unreachable) fail the whole batch.
/// </summary>
internal sealed class Batcher<TKey, TRequest, TResult>(
    Func<TRequest, TKey> keyOf,
    Func<IReadOnlyList<TRequest>, CancellationToken, Task<IReadOnlyList<TResult>>> execute,
    int maxBatch,
    int maxInFlight,
    Func<Exception, bool>? refusedItem = null)
    where TKey : notnull
{
    private readonly ConcurrentQueue<Pending> _queue = new();
    private int _inFlight;

    public Task<TResult> RunAsync(TRequest request)
    {
        var pending = new Pending(request, new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        _queue.Enqueue(pending);
        TryStartLoop();
        return pending.Result.Task;
    }

    private void TryStartLoop()
    {
        while (true)
        {
            var running = Volatile.Read(ref _inFlight);
            if (running >= maxInFlight || _queue.IsEmpty)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _inFlight, running + 1, running) == running)
            {
                _ = Task.Run(LoopAsync);
                return;
            }
        }
    }

    private async Task LoopAsync()
    {
        var deferred = new List<Pending>();
        var batch = new List<Pending>(maxBatch);
        var keys = new HashSet<TKey>();
        try
        {
            while (true)
            {
                batch.Clear();
                keys.Clear();
                var retry = deferred.ToList();
                deferred.Clear();
                foreach (var pending in retry)
                {
                    Take(pending);
                }

                while (batch.Count < maxBatch && _queue.TryDequeue(out var next))
                {
                    Take(next);
                }

                if (batch.Count == 0)
                {
                    return;
                }

                try
                {
                    var results = await execute([.. batch.Select(p => p.Request)], CancellationToken.None).ConfigureAwait(false);
                    for (var i = 0; i < batch.Count; i++)
                    {
                        batch[i].Result.TrySetResult(results[i]);
                    }
                }
                catch (Exception e) when (batch.Count > 1 && (refusedItem?.Invoke(e) ?? true))
                {
                    // One request the database refuses fails the whole statement: try each alone, so that it fails alone.
                    foreach (var pending in batch)
                    {
                        await RunAloneAsync(pending).ConfigureAwait(false);
                    }
                }
                catch (Exception e)
                {
                    foreach (var pending in batch)
                    {
                        pending.Result.TrySetException(e);
                    }
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);

            // A request queued just as this loop found the queue empty must not wait for the next caller.
            TryStartLoop();
        }

        void Take(Pending pending)
        {
            if (keys.Add(keyOf(pending.Request)))
            {
                batch.Add(pending);
            }
            else
            {
                deferred.Add(pending);
            }
        }
    }

    private async Task RunAloneAsync(Pending pending)
    {
        try
        {
            var results = await execute([pending.Request], CancellationToken.None).ConfigureAwait(false);
            pending.Result.TrySetResult(results[0]);
        }
        catch (Exception e)
        {
            pending.Result.TrySetException(e);
        }
    }

    private sealed record Pending(TRequest Request, TaskCompletionSource<TResult> Result);
}
