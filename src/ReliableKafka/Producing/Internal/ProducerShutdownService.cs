using Microsoft.Extensions.Hosting;

namespace ReliableKafka.Producing.Internal;

/// <summary>
/// Flushes every producer when the host stops. Registered before any consumer, so it stops after them
/// (hosted services stop in reverse order) and messages their handlers produced are delivered too.
/// </summary>
internal sealed class ProducerShutdownService(ProducerClientRegistry registry) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => registry.FlushAllAsync(cancellationToken);
}
