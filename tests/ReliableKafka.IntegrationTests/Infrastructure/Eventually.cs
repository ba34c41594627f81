using System.Diagnostics;

namespace ReliableKafka.IntegrationTests.Infrastructure;

/// <summary>Polls a condition with a generous timeout instead of sleeping for a fixed time.</summary>
internal static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public static async Task UntilAsync(Func<bool> condition, string because, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > limit)
            {
                throw new TimeoutException($"Waited {limit.TotalSeconds:0} s for: {because}");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Polls an asynchronous condition (a health check, say).</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string because, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > limit)
            {
                throw new TimeoutException($"Waited {limit.TotalSeconds:0} s for: {because}");
            }

            await Task.Delay(20);
        }
    }

    public static async Task<T> UntilAsync<T>(Func<T?> probe, string because, TimeSpan? timeout = null)
        where T : class
    {
        T? value = null;
        await UntilAsync(() => (value = probe()) is not null, because, timeout);
        return value!;
    }
}
