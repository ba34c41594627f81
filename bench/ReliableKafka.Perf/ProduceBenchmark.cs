using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ReliableKafka.Configuration.Internal;

namespace ReliableKafka.Perf;

/// <summary>What to produce (the options of the produce command).</summary>
internal sealed record ProduceSettings(
    int Records,
    int RecordSize,
    long Throughput,
    Acks? Acks,
    DeliveryGuarantee Guarantee,
    int Partitions,
    int Keys,
    int MaxInFlight,
    bool MessageIdHeader = true)
{
    public string AcksText => Acks switch
    {
        Confluent.Kafka.Acks.None => "0",
        Confluent.Kafka.Acks.Leader => "1",
        Confluent.Kafka.Acks.All => "all",
        _ => Guarantee == DeliveryGuarantee.AtMostOnce ? "0" : "all",
    };

    public ProducerOptions ToOptions() => new() { DeliveryGuarantee = Guarantee, Acks = Acks, MessageIdHeader = MessageIdHeader };
}

/// <summary>One measured produce run.</summary>
internal sealed record ProduceRun(string Client, int Round, int Records, int Failed, double Seconds, double RecordsPerSecond, double MegabytesPerSecond, Latency Latency, double AllocatedBytesPerRecord)
{
    public string Describe() => string.Create(
        System.Globalization.CultureInfo.InvariantCulture,
        $"{Records} records sent, {RecordsPerSecond:0.0} records/sec ({MegabytesPerSecond:0.00} MB/sec), {Latency.AverageMs:0.00} ms avg latency, {Latency.MaxMs:0.00} ms max latency, " +
        $"{Latency.P50Ms:0} ms 50th, {Latency.P95Ms:0} ms 95th, {Latency.P99Ms:0} ms 99th, {Latency.P999Ms:0} ms 99.9th; {AllocatedBytesPerRecord:0} B allocated/record{(Failed > 0 ? $"; {Failed} FAILED" : string.Empty)}");
}

/// <summary>
/// Produces the same workload through IReliableProducer and through a plain Confluent.Kafka producer built
/// from exactly the librdkafka settings the library derives (so only the library's own work differs).
/// Both keep at most MaxInFlight records outstanding and time each record from send to acknowledgement.
/// </summary>
internal static class ProduceBenchmark
{
    public static ProduceRun RunReliable(PerfCluster cluster, string topic, ProduceSettings settings, int round)
    {
        var services = new ServiceCollection();
        services.AddReliableKafka(o => o.BootstrapServers = cluster.BootstrapServers)
            .AddProducer<byte[]?, byte[]>("perf", p =>
            {
                p.DeliveryGuarantee = settings.Guarantee;
                p.Acks = settings.Acks;
                p.MessageIdHeader = settings.MessageIdHeader;
            });
        using var provider = services.BuildServiceProvider();
        _ = provider.GetRequiredService<IOptions<ReliableKafkaOptions>>().Value; // validates, like host startup
        var producer = provider.GetRequiredService<IReliableProducer<byte[]?, byte[]>>();
        var (keys, value) = Payload(settings);
        producer.ProduceAsync(topic, keys[0], value).GetAwaiter().GetResult(); // connect and warm up

        return Measure("reliable", round, settings, (index, done) =>
        {
            var task = producer.ProduceAsync(topic, keys[index % keys.Length], value);
            OnCompleted(task, index, done);
        });
    }

    /// <summary>
    /// Plain Confluent.Kafka, callback API (its fastest). With <paramref name="withMessageId"/> each message also
    /// carries a message-id header made the way the library makes it, which isolates what the header itself costs.
    /// </summary>
    public static ProduceRun RunRaw(PerfCluster cluster, string topic, ProduceSettings settings, int round, bool withMessageId = false)
    {
        var config = RawConfig(cluster, settings);
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(config).Build();
        var (keys, value) = Payload(settings);
        producer.ProduceAsync(topic, new Message<byte[]?, byte[]?> { Key = keys[0], Value = value }).GetAwaiter().GetResult();

        var run = Measure(withMessageId ? "raw+id" : "raw", round, settings, (index, done) =>
        {
            var message = new Message<byte[]?, byte[]?> { Key = keys[index % keys.Length], Value = value };
            if (withMessageId)
            {
                message.Headers = new Headers { { ReliableKafkaHeaders.MessageId, Producing.Internal.MessageIds.NewIdUtf8(TimeProvider.System) } };
            }

            producer.Produce(topic, message, report => done(index, report.Error.Code == ErrorCode.NoError));
        });
        producer.Flush(TimeSpan.FromSeconds(30));
        return run;
    }

    /// <summary>Plain Confluent.Kafka, Task API (ProduceAsync), the same API style as the library's.</summary>
    public static ProduceRun RunRawAsync(PerfCluster cluster, string topic, ProduceSettings settings, int round)
    {
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(RawConfig(cluster, settings)).Build();
        var (keys, value) = Payload(settings);
        producer.ProduceAsync(topic, new Message<byte[]?, byte[]?> { Key = keys[0], Value = value }).GetAwaiter().GetResult();

        return Measure("raw-async", round, settings, (index, done) =>
        {
            var task = producer.ProduceAsync(topic, new Message<byte[]?, byte[]?> { Key = keys[index % keys.Length], Value = value });
            OnCompleted(task, index, done);
        });
    }

    /// <summary>The librdkafka settings the library uses for this producer (preset, validation and all).</summary>
    public static IReadOnlyDictionary<string, string> RawConfig(PerfCluster cluster, ProduceSettings settings)
    {
        var root = new ReliableKafkaOptions { BootstrapServers = cluster.BootstrapServers };
        return KafkaClientConfigBuilder.BuildProducer(root, "perf", settings.ToOptions()).ThrowIfInvalid().Values;
    }

    /// <summary>
    /// Tracks a task's completion with one closure, as the raw callback runs track theirs, so that the harness
    /// costs the same on both sides (a ContinueWith would add a task per record to the Task-based clients).
    /// </summary>
    private static void OnCompleted(Task task, int index, Action<int, bool> done) =>
        task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(() => done(index, task.IsCompletedSuccessfully));

    private static (byte[]?[] Keys, byte[] Value) Payload(ProduceSettings settings)
    {
        var random = new Random(42);
        var value = new byte[settings.RecordSize];
        random.NextBytes(value);
        var keys = settings.Keys > 0
            ? Enumerable.Range(0, settings.Keys).Select(k => System.Text.Encoding.UTF8.GetBytes($"key-{k}")).ToArray<byte[]?>()
            : [null];
        return (keys, value);
    }

    private static ProduceRun Measure(string client, int round, ProduceSettings settings, Action<int, Action<int, bool>> send)
    {
        var starts = new long[settings.Records];
        var latencies = new long[settings.Records];
        var inFlight = new SemaphoreSlim(settings.MaxInFlight, settings.MaxInFlight);
        var completed = 0;
        var failed = 0;
        var allDone = new ManualResetEventSlim();

        void Done(int index, bool ok)
        {
            latencies[index] = Stopwatch.GetTimestamp() - starts[index];
            if (!ok)
            {
                Interlocked.Increment(ref failed);
            }

            inFlight.Release();
            if (Interlocked.Increment(ref completed) == settings.Records)
            {
                allDone.Set();
            }
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var throttle = new Throttle(settings.Throughput);
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < settings.Records; i++)
        {
            throttle.WaitFor(i);
            inFlight.Wait();
            starts[i] = Stopwatch.GetTimestamp();
            send(i, Done);
        }

        allDone.Wait();
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        inFlight.Dispose();
        allDone.Dispose();

        return new ProduceRun(
            client,
            round,
            settings.Records,
            failed,
            seconds,
            settings.Records / seconds,
            settings.Records * (double)settings.RecordSize / (1024 * 1024) / seconds,
            Latency.FromTicks(latencies, settings.Records),
            allocated / (double)settings.Records);
    }
}
