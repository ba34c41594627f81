using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ReliableKafka.Perf;

/// <summary>What the engine benchmark runs (the options of the engine command).</summary>
internal sealed record EngineSettings(int Records, int Keys, int Partitions, TimeSpan Work, int MaxConcurrency);

/// <summary>One measured engine run.</summary>
internal sealed record EngineRun(string Mode, int Records, double Seconds, double RecordsPerSecond, int Duplicates)
{
    public string Describe() => string.Create(
        System.Globalization.CultureInfo.InvariantCulture,
        $"{Records} records handled, {RecordsPerSecond:0.0} records/sec in {Seconds:0.00} s{(Duplicates > 0 ? $" ({Duplicates} handled twice)" : string.Empty)}");
}

/// <summary>
/// A handler with some async I/O per record (Task.Delay), keyed records, and the same data read once in Key mode
/// and once in Partition mode: how much concurrency per-key ordering unlocks compared with one record at a time
/// per partition.
/// </summary>
internal static class EngineBenchmark
{
    public static void Fill(PerfCluster cluster, string topic, EngineSettings settings)
    {
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 5,
        }).Build();
        var value = new byte[100];
        for (var i = 0; i < settings.Records; i++)
        {
            producer.Produce(topic, new Message<byte[], byte[]> { Key = System.Text.Encoding.UTF8.GetBytes($"key-{i % settings.Keys}"), Value = value });
        }

        if (producer.Flush(TimeSpan.FromMinutes(1)) > 0)
        {
            throw new InvalidOperationException("Filling the topic did not finish in a minute.");
        }
    }

    public static async Task<EngineRun> RunAsync(PerfCluster cluster, string topic, EngineSettings settings, OrderingMode mode)
    {
        var counter = new ConsumeBenchmark.RecordCounter(settings.Records, settings.Partitions, perPartitionCapacity: settings.Records);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(counter);
        builder.Services.AddSingleton(new Work(settings.Work));
        builder.Services.AddReliableKafka(o => o.BootstrapServers = cluster.BootstrapServers)
            .AddConsumer<byte[]?, byte[]?, WorkingHandler>("perf", o =>
            {
                o.GroupId = $"perf-engine-{mode}-{Guid.NewGuid():N}";
                o.Topics.Add(topic);
                o.OrderingMode = mode;
                o.MaxConcurrency = settings.MaxConcurrency;
            });
        using var host = builder.Build();
        await host.StartAsync();
        await counter.Done.Task.WaitAsync(TimeSpan.FromMinutes(10));
        await host.StopAsync();

        var seconds = (counter.LastAt - counter.FirstAt) / (double)Stopwatch.Frequency;
        return new EngineRun(mode.ToString(), settings.Records, seconds, (settings.Records - 1) / seconds, counter.Duplicates);
    }

    internal sealed record Work(TimeSpan Delay);

    /// <summary>Waits for the configured time (async I/O), then counts the record.</summary>
    internal sealed class WorkingHandler(ConsumeBenchmark.RecordCounter counter, Work work) : IMessageHandler<byte[]?, byte[]?>
    {
        public async Task HandleAsync(MessageContext<byte[]?, byte[]?> context, CancellationToken cancellationToken)
        {
            await Task.Delay(work.Delay, cancellationToken);
            counter.Count(context.Partition.Value, context.Offset.Value);
        }
    }
}
