using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Producing.Internal;

namespace ReliableKafka.Diagnostics.Internal;

/// <summary>Builds <see cref="ReliableKafkaSnapshot"/>s from the consumers' engines and the producer clients.</summary>
internal sealed class ReliableKafkaMonitor(
    IEnumerable<IHostedService> hostedServices,
    IOptions<ReliableKafkaOptions> options,
    ProducerClientRegistry producers,
    TimeProvider time) : IReliableKafkaMonitor
{
    private readonly List<IReliableConsumerService> _consumers = [.. hostedServices.OfType<IReliableConsumerService>()];

    public bool PausePartition(string consumer, string topic, int partition) => SetPaused(consumer, topic, partition, paused: true);

    public bool ResumePartition(string consumer, string topic, int partition) => SetPaused(consumer, topic, partition, paused: false);

    public ReliableKafkaSnapshot GetSnapshot()
    {
        var root = options.Value;
        var now = time.GetUtcNow();
        var consumers = new List<ConsumerSnapshot>(_consumers.Count);
        foreach (var service in _consumers)
        {
            var (_, problems) = ReliableKafkaHealthCheck.Inspect(service, root.Health.NoProgressAfter, now);
            var engine = service.Engine;
            var configured = root.Consumers.TryGetValue(service.Name, out var consumerOptions) ? consumerOptions : null;
            if (engine is null)
            {
                consumers.Add(new ConsumerSnapshot
                {
                    Name = service.Name,
                    GroupId = configured?.GroupId ?? string.Empty,
                    Topics = configured?.Topics ?? [],
                    State = ConsumerRunState.NotStarted,
                    Problems = problems,
                    Buffered = 0,
                    Running = 0,
                    Handled = 0,
                    Retries = 0,
                    RetriedThroughTopics = 0,
                    DeadLettered = 0,
                    Skipped = 0,
                    ParkedKeys = 0,
                    Partitions = [],
                });
                continue;
            }

            var status = engine.Status();
            var (handled, retries, retried, deadLettered, skipped) = engine.Metrics.Totals;
            var run = engine.Run;
            consumers.Add(new ConsumerSnapshot
            {
                Name = service.Name,
                GroupId = engine.GroupId,
                Topics = engine.Topics,
                State = run is null ? ConsumerRunState.NotStarted : run.IsCompleted ? ConsumerRunState.Stopped : ConsumerRunState.Running,
                StoppedBecause = run is { IsCompleted: true, Exception.InnerException: { } error } ? error.Message : null,
                Problems = problems,
                Buffered = status.Buffered,
                Running = status.Partitions.Sum(p => p.Running),
                OldestRunning = status.OldestRunning,
                Handled = handled,
                Retries = retries,
                RetriedThroughTopics = retried,
                DeadLettered = deadLettered,
                Skipped = skipped,
                ParkedKeys = status.ParkedKeys,
                Partitions = status.Partitions,
            });
        }

        return new ReliableKafkaSnapshot
        {
            TakenAt = now,
            Consumers = consumers,
            Producers = [.. producers.Clients.Select(p => new ProducerSnapshot
            {
                Name = p.Name,
                Sent = p.Counters.Sent,
                Failed = p.Counters.Failed,
                FatalError = p.FatalError is { } fatal ? $"{fatal.Code}: {fatal.Reason}" : null,
            })],
        };
    }

    private bool SetPaused(string consumer, string topic, int partition, bool paused)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentOutOfRangeException.ThrowIfNegative(partition);
        var engine = _consumers.FirstOrDefault(c => string.Equals(c.Name, consumer, StringComparison.OrdinalIgnoreCase))?.Engine;
        return engine?.SetPaused(new Confluent.Kafka.TopicPartition(topic, partition), paused) == true;
    }
}
