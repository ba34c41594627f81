using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Producing.Internal;

/// <summary>Creates each named producer client on first use, flushes them on host shutdown and disposes them with the container.</summary>
internal sealed class ProducerClientRegistry(
    IOptions<ReliableKafkaOptions> options,
    ILoggerFactory loggerFactory,
    KafkaClientFactory clients,
    ReliableKafkaMetrics? metrics = null,
    TimeProvider? time = null) : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<ProducerClient>> _clients = new(StringComparer.OrdinalIgnoreCase);
    private readonly ILogger _logger = loggerFactory.CreateLogger(Log.ProducerCategory);
    private int _disposed;

    public ProducerClient Get(string name)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _clients.GetOrAdd(name, n => new Lazy<ProducerClient>(() => Create(n), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    /// <summary>Gets the producer clients created so far.</summary>
    public IReadOnlyList<ProducerClient> Clients => [.. Created()];

    public Task FlushAllAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(Created().Select(client => client.FlushAsync(cancellationToken)));

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var client in Created())
        {
            client.Dispose();
        }
    }

    private IEnumerable<ProducerClient> Created() =>
        _clients.Values.Where(lazy => lazy.IsValueCreated).Select(lazy => lazy.Value);

    private ProducerClient Create(string name)
    {
        var root = options.Value;
        if (!root.Producers.TryGetValue(name, out var producerOptions))
        {
            throw new InvalidOperationException($"No producer named '{name}' is configured; add it with AddProducer.");
        }

        var config = KafkaClientConfigBuilder.BuildProducer(root, name, producerOptions).ThrowIfInvalid();
        return new ProducerClient(config, producerOptions, _logger, clients, metrics, time);
    }
}
