using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Deduplication.Internal;

/// <summary>Purges the deduplication store of ids older than its retention, at start and then every purge interval.</summary>
internal sealed class DeduplicationPurgeService<TOptions>(
    string storeName,
    IDeduplicationStore store,
    IOptions<TOptions> options,
    ILoggerFactory loggerFactory,
    TimeProvider time) : BackgroundService
    where TOptions : DeduplicationStoreOptions
{
    private readonly ILogger _logger = loggerFactory.CreateLogger(Log.ConsumerCategory);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.PurgeInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var removed = await store.PurgeAsync(stoppingToken).ConfigureAwait(false);
                Log.Purged(_logger, storeName, removed);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                Log.PurgeFailed(_logger, storeName, (long)interval.TotalMilliseconds, e.Message);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await Task.Delay(interval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
