using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ReliableKafka.Configuration.Internal;

namespace ReliableKafka.Perf;

/// <summary>What to consume (the options of the consume command).</summary>
internal sealed record ConsumeSettings(int Records, int RecordSize, int Partitions);

/// <summary>One measured consume run.</summary>
internal sealed record ConsumeRun(string Client, int Round, int Records, double SecondsToFirstRecord, double Seconds, double RecordsPerSecond, double MegabytesPerSecond, double AllocatedBytesPerRecord)
{
    public string Describe() => string.Create(
        System.Globalization.CultureInfo.InvariantCulture,
        $"{Records} records consumed, {RecordsPerSecond:0.0} records/sec ({MegabytesPerSecond:0.00} MB/sec), first record after {SecondsToFirstRecord * 1000:0} ms; {AllocatedBytesPerRecord:0} B allocated/record");
}

/// <summary>
/// Reads the same topic from the beginning with a ReliableKafka consumer (a handler that does nothing, in a
/// hosted service) and with a plain Confluent.Kafka consume loop that stores each offset and commits on the
/// same interval, both with the librdkafka settings the library derives. Throughput is measured from the
/// first record to the last, so group joining does not count; the time to the first record is reported apart.
/// </summary>
internal static class ConsumeBenchmark
{
    /// <summary>The mock cluster keeps about 5 MiB per partition and drops older data silently; stay well below.</summary>
    public const long MaxBytesPerPartition = 4L * 1024 * 1024;

    /// <param name="cluster">The cluster.</param>
    /// <param name="topic">The topic.</param>
    /// <param name="settings">How many records of what size over how many partitions.</param>
    /// <param name="withMessageIds">Whether each record carries a message id header.</param>
    /// <param name="keys">Distinct keys, round robin (0: no keys).</param>
    /// <param name="withTraceParent">Whether each record carries a W3C traceparent header (a trace of its own).</param>
    public static void Fill(PerfCluster cluster, string topic, ConsumeSettings settings, bool withMessageIds = false, int keys = 0, bool withTraceParent = false)
    {
        var value = new byte[settings.RecordSize];
        new Random(7).NextBytes(value);
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 5,
        }).Build();
        for (var i = 0; i < settings.Records; i++)
        {
            while (true)
            {
                try
                {
                    producer.Produce(new TopicPartition(topic, i % settings.Partitions), new Message<byte[]?, byte[]?>
                    {
                        Key = keys > 0 ? System.Text.Encoding.UTF8.GetBytes($"key-{i % keys}") : null,
                        Value = value,
                        Headers = Headers(withMessageIds, withTraceParent),
                    });
                    break;
                }
                catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(10));
                }
            }
        }

        if (producer.Flush(TimeSpan.FromMinutes(2)) > 0)
        {
            throw new InvalidOperationException("Filling the topic did not finish in 2 minutes.");
        }
    }

    private static Headers? Headers(bool withMessageId, bool withTraceParent)
    {
        if (!withMessageId && !withTraceParent)
        {
            return null;
        }

        var headers = new Headers();
        if (withMessageId)
        {
            headers.Add(ReliableKafkaHeaders.MessageId, System.Text.Encoding.UTF8.GetBytes(Guid.NewGuid().ToString("N")));
        }

        if (withTraceParent)
        {
            headers.Add("traceparent", System.Text.Encoding.UTF8.GetBytes($"00-{ActivityTraceId.CreateRandom()}-{ActivitySpanId.CreateRandom()}-01"));
        }

        return headers;
    }

    /// <param name="cluster">The cluster.</param>
    /// <param name="topic">The filled topic.</param>
    /// <param name="settings">What was filled.</param>
    /// <param name="round">The round (0 is the warm-up).</param>
    /// <param name="client">The client's name in the report.</param>
    /// <param name="configure">Adds to the ReliableKafka builder, e.g. a deduplication store.</param>
    public static async Task<ConsumeRun> RunReliableAsync(
        PerfCluster cluster, string topic, ConsumeSettings settings, int round, string client = "reliable", Action<IReliableKafkaBuilder>? configure = null)
    {
        var counter = new RecordCounter(settings.Records, settings.Partitions);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(counter);
        var kafka = builder.Services.AddReliableKafka(o => o.BootstrapServers = cluster.BootstrapServers)
            .AddConsumer<byte[]?, byte[]?, CountingHandler>("perf", o =>
            {
                o.GroupId = $"perf-reliable-{Guid.NewGuid():N}";
                o.Topics.Add(topic);
            });
        configure?.Invoke(kafka);
        using var host = builder.Build();

        GC.Collect();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        await host.StartAsync();
        await counter.Done.Task.WaitAsync(TimeSpan.FromMinutes(5));
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        await host.StopAsync();
        if (counter.Duplicates > 0)
        {
            Console.WriteLine($"  (round {round}: {counter.Duplicates} records were handled twice and counted once)");
        }

        return Result(client, round, settings, started, counter.FirstAt, counter.LastAt, allocated);
    }

    public static ConsumeRun RunRaw(PerfCluster cluster, string topic, ConsumeSettings settings, int round)
    {
        var options = new ConsumerOptions { GroupId = $"perf-raw-{Guid.NewGuid():N}" };
        options.Topics.Add(topic);
        var config = KafkaClientConfigBuilder.BuildConsumer(new ReliableKafkaOptions { BootstrapServers = cluster.BootstrapServers }, "perf", options)
            .ThrowIfInvalid().Values;

        GC.Collect();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();
        consumer.Subscribe(topic);
        long firstAt = 0, lastAt = 0;
        var count = 0;
        var lastCommit = Stopwatch.GetTimestamp();
        while (count < settings.Records)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (result is null || result.IsPartitionEOF)
            {
                continue;
            }

            consumer.StoreOffset(result);
            if (++count == 1)
            {
                firstAt = Stopwatch.GetTimestamp();
            }

            if (Stopwatch.GetElapsedTime(lastCommit) >= options.CommitInterval)
            {
                CommitStored(consumer);
                lastCommit = Stopwatch.GetTimestamp();
            }
        }

        lastAt = Stopwatch.GetTimestamp();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        CommitStored(consumer);
        consumer.Close();
        return Result("raw", round, settings, started, firstAt, lastAt, allocated);
    }

    private static void CommitStored(IConsumer<byte[]?, byte[]?> consumer)
    {
        try
        {
            consumer.Commit();
        }
        catch (KafkaException e) when (e.Error.Code == ErrorCode.Local_NoOffset)
        {
            // Nothing new stored.
        }
    }

    private static ConsumeRun Result(string client, int round, ConsumeSettings settings, long started, long firstAt, long lastAt, long allocated)
    {
        var seconds = (lastAt - firstAt) / (double)Stopwatch.Frequency;
        var records = settings.Records - 1; // from the first record to the last
        return new ConsumeRun(
            client,
            round,
            settings.Records,
            (firstAt - started) / (double)Stopwatch.Frequency,
            seconds,
            records / seconds,
            records * (double)settings.RecordSize / (1024 * 1024) / seconds,
            allocated / (double)settings.Records);
    }

    /// <summary>
    /// Counts distinct records (a record handled twice counts once, and is reported) and notes when the first
    /// and the last arrived.
    /// </summary>
    internal sealed class RecordCounter(int target, int partitions, int? perPartitionCapacity = null)
    {
        private readonly int[][] _seen = Enumerable.Range(0, partitions).Select(_ => new int[perPartitionCapacity ?? ((target / partitions) + 1)]).ToArray();
        private int _count;
        private int _duplicates;

        public long FirstAt { get; private set; }

        public long LastAt { get; private set; }

        public int Duplicates => Volatile.Read(ref _duplicates);

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Count(int partition, long offset)
        {
            if (Interlocked.Exchange(ref _seen[partition][offset], 1) == 1)
            {
                Interlocked.Increment(ref _duplicates);
                return;
            }

            var count = Interlocked.Increment(ref _count);
            if (count == 1)
            {
                FirstAt = Stopwatch.GetTimestamp();
            }

            if (count == target)
            {
                LastAt = Stopwatch.GetTimestamp();
                Done.TrySetResult();
            }
        }
    }

    /// <summary>The no-op handler: counts the record and returns.</summary>
    internal sealed class CountingHandler(RecordCounter counter) : IMessageHandler<byte[]?, byte[]?>
    {
        public Task HandleAsync(MessageContext<byte[]?, byte[]?> context, CancellationToken cancellationToken)
        {
            counter.Count(context.Partition.Value, context.Offset.Value);
            return Task.CompletedTask;
        }
    }
}
