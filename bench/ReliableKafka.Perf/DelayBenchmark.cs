using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Delay.Internal;

namespace ReliableKafka.Perf;

/// <summary>What the delay command runs (its options).</summary>
/// <param name="Records">Messages scheduled in the measured run.</param>
/// <param name="RecordSize">Value size in bytes (also of the plain consume workload's records).</param>
/// <param name="Tiers">The delay tiers, shortest first.</param>
/// <param name="MinDelay">The shortest delay (delays are uniformly random between the two).</param>
/// <param name="MaxDelay">The longest delay.</param>
/// <param name="Partitions">Partitions of each delay topic and of the target topic.</param>
/// <param name="Keys">Distinct keys, round robin.</param>
/// <param name="ScheduleBatch">ScheduleAsync calls in flight at once (awaited together with Task.WhenAll).</param>
/// <param name="ForwarderFetchWait">The forwarder's FetchWaitMax.</param>
/// <param name="ForwarderConcurrency">The forwarder's MaxConcurrency, or null for the library's default.</param>
internal sealed record DelaySettings(
    int Records,
    int RecordSize,
    IReadOnlyList<TimeSpan> Tiers,
    TimeSpan MinDelay,
    TimeSpan MaxDelay,
    int Partitions,
    int Keys,
    int ScheduleBatch,
    TimeSpan ForwarderFetchWait,
    int? ForwarderConcurrency)
{
    public string TiersText => string.Join(',', Tiers.Select(DelayTiers.Name));
}

/// <summary>The measured delay run, and the plain consume workload's throughput in the same process run.</summary>
internal sealed record DelayRun(
    int Records,
    string Tiers,
    int Delivered,
    int Missing,
    int Early,
    int Duplicates,
    double LatenessP50Ms,
    double LatenessP95Ms,
    double LatenessP99Ms,
    double LatenessMaxMs,
    double RecordsPerSecond,
    double DueRecordsPerSecond,
    double SchedulePerSecond,
    double WindowSeconds,
    double PlainConsumeRecordsPerSecond)
{
    public double RatioToPlainConsume => RecordsPerSecond / PlainConsumeRecordsPerSecond;

    /// <summary>The one summary line (see README.md).</summary>
    public string Line() => string.Create(
        CultureInfo.InvariantCulture,
        $"delay records={Records} tiers={Tiers} lateness_p50_ms={LatenessP50Ms:0} lateness_p99_ms={LatenessP99Ms:0} max_ms={LatenessMaxMs:0} early={Early} duplicates={Duplicates} throughput={RecordsPerSecond:0}/s vs_plain_consume={RatioToPlainConsume:0.00}{(Missing > 0 ? $" missing={Missing}" : string.Empty)}");
}

/// <summary>
/// Delayed delivery end to end: schedules messages with random delays through <see cref="IMessageScheduler{TKey, TValue}"/>
/// (many calls in flight), lets the forwarder (in the same process) move them down the tiers, and reads the target topic
/// with a plain Confluent.Kafka consumer that notes when each message arrives (identified by its message-id header, the
/// schedule id). Lateness is arrival minus <see cref="ScheduleResult.DueAt"/>; throughput is the messages delivered per
/// second from the first due time to the last arrival. In the same run, the plain consume workload (raw Confluent.Kafka,
/// <see cref="ConsumeBenchmark.RunRaw"/>) gives the throughput to compare with.
/// </summary>
internal static class DelayBenchmark
{
    /// <summary>The target consumer's FetchWaitMax: short, so that the measurement shows the forwarder, not this consumer's long polls.</summary>
    public static readonly TimeSpan TargetFetchWait = TimeSpan.FromMilliseconds(20);

    /// <summary>Warm-up messages (JIT, connections, the forwarder's first cancellation round), not measured.</summary>
    private const int WarmUpRecords = 500;

    /// <summary>How long duplicates are still looked for after the last message arrived.</summary>
    private static readonly TimeSpan DuplicateGrace = TimeSpan.FromSeconds(1);

    /// <summary>The plain consume workload's records (the consume command's defaults).</summary>
    private const int PlainRecords = 120_000;

    private const int PlainPartitions = 48;

    /// <summary>Parses tiers like <c>200ms,1s,5s,1m,1h</c>.</summary>
    public static IReadOnlyList<TimeSpan> ParseTiers(string text)
    {
        var tiers = new List<TimeSpan>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (number, unit) = part.EndsWith("ms", StringComparison.Ordinal) ? (part[..^2], 1L)
                : part.EndsWith('s') ? (part[..^1], 1_000L)
                : part.EndsWith('m') ? (part[..^1], 60_000L)
                : part.EndsWith('h') ? (part[..^1], 3_600_000L)
                : throw new FormatException($"Tier '{part}' needs a unit: ms, s, m or h (e.g. 200ms,1s,5s).");
            tiers.Add(TimeSpan.FromMilliseconds(long.Parse(number, NumberStyles.None, CultureInfo.InvariantCulture) * unit));
        }

        var problems = DelayTiers.Problems(tiers).ToList();
        return tiers.Count == 0 ? throw new FormatException("Give at least one tier.")
            : problems.Count > 0 ? throw new FormatException(string.Join(" ", problems))
            : tiers;
    }

    public static async Task<DelayRun> RunAsync(PerfCluster cluster, DelaySettings settings, int rounds)
    {
        var bytesPerPartition = (long)Math.Ceiling(settings.Records / (double)settings.Partitions) * (settings.RecordSize + 200);
        if (cluster.IsEmbedded && bytesPerPartition > ConsumeBenchmark.MaxBytesPerPartition)
        {
            throw new InvalidOperationException(
                $"{settings.Records} messages of {settings.RecordSize} B over {settings.Partitions} partitions could put about {bytesPerPartition / 1024} KiB unread in a partition; " +
                $"the embedded cluster keeps only about 5 MiB per partition and drops older data silently. Use at least " +
                $"{((long)settings.Records * (settings.RecordSize + 200) / ConsumeBenchmark.MaxBytesPerPartition) + 1} partitions or fewer or smaller messages.");
        }

        var plain = RunPlainConsume(cluster, settings.RecordSize, rounds);
        return await RunDelayAsync(cluster, settings, plain);
    }

    /// <summary>The consume workload through raw Confluent.Kafka: a warm-up round, then the median of <paramref name="rounds"/>.</summary>
    private static double RunPlainConsume(PerfCluster cluster, int recordSize, int rounds)
    {
        var partitions = (int)Math.Max(PlainPartitions, ((long)PlainRecords * (recordSize + 100) / ConsumeBenchmark.MaxBytesPerPartition) + 1);
        var settings = new ConsumeSettings(PlainRecords, recordSize, partitions);
        var topic = cluster.CreateTopic(null, "perf-delay-plain", partitions);
        Console.WriteLine($"plain consume {recordSize}B: filling '{topic}' with {PlainRecords} records over {partitions} partitions, then {rounds} round(s) reading all of it with raw Confluent.Kafka");
        ConsumeBenchmark.Fill(cluster, topic, settings);
        var measured = new List<double>();
        for (var round = 0; round <= rounds; round++)
        {
            var run = ConsumeBenchmark.RunRaw(cluster, topic, settings, round);
            Console.WriteLine($"  {(round == 0 ? "warm-up" : $"round {round}")} {run.Client,-8} {run.Describe()}");
            if (round > 0)
            {
                measured.Add(run.RecordsPerSecond);
            }
        }

        measured.Sort();
        return measured.Count % 2 == 1 ? measured[measured.Count / 2] : (measured[(measured.Count / 2) - 1] + measured[measured.Count / 2]) / 2;
    }

    private static async Task<DelayRun> RunDelayAsync(PerfCluster cluster, DelaySettings settings, double plainConsume)
    {
        var prefix = $"perf-delay-{Guid.NewGuid().ToString("N")[..8]}";
        var delay = new DelayedDeliveryOptions { TopicPrefix = prefix };
        delay.Tiers.AddRange(settings.Tiers);
        if (cluster.IsEmbedded)
        {
            // The embedded cluster is given the topics (as the integration tests do); a real one gets them from the library.
            foreach (var topic in delay.RequiredTopics())
            {
                cluster.CreateTopic(topic, prefix, settings.Partitions);
            }
        }

        var target = cluster.CreateTopic(null, "perf-delay-target", settings.Partitions);
        Console.WriteLine(
            $"delay {settings.RecordSize}B: {settings.Records} messages to '{target}' with delays uniformly random in {settings.MinDelay.TotalMilliseconds:0}-{settings.MaxDelay.TotalMilliseconds:0} ms, " +
            $"tiers {settings.TiersText} ({prefix}.delay.*), {settings.Partitions} partitions, {settings.Keys} keys, {settings.ScheduleBatch} schedules in flight; " +
            $"forwarder FetchWaitMax {settings.ForwarderFetchWait.TotalMilliseconds:0} ms, MaxConcurrency {settings.ForwarderConcurrency?.ToString(CultureInfo.InvariantCulture) ?? "default"}; " +
            $"target read by raw Confluent.Kafka with FetchWaitMax {TargetFetchWait.TotalMilliseconds:0} ms");

        using var reader = new TargetReader(cluster, target, settings.Partitions, settings.Records);
        reader.Start();
        if (!await WaitUntilAsync(() => reader.Assigned, TimeSpan.FromSeconds(60)))
        {
            throw new TimeoutException($"The target consumer was not assigned the {settings.Partitions} partitions of '{target}' in 60 s.");
        }

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddReliableKafka(o => o.BootstrapServers = cluster.BootstrapServers)
            .AddDelayedDelivery(o =>
            {
                o.TopicPrefix = prefix;
                o.Tiers.AddRange(settings.Tiers);
                o.CreateTopics = !cluster.IsEmbedded;
                o.Partitions = settings.Partitions;
                o.Forwarder.FetchWaitMax = settings.ForwarderFetchWait;
                if (settings.ForwarderConcurrency is { } concurrency)
                {
                    o.Forwarder.MaxConcurrency = concurrency;
                }
            });
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var forwarder = host.Services.GetServices<IHostedService>().OfType<IReliableConsumerService>().Single(s => s.Name == DelayRuntime.ForwarderName);
            var tierPartitions = settings.Tiers.Count * settings.Partitions;
            if (!await WaitUntilAsync(() => forwarder.Engine?.Assignment.Count == tierPartitions, TimeSpan.FromSeconds(60)))
            {
                throw new TimeoutException($"The forwarder was not assigned the {tierPartitions} delay tier partitions in 60 s.");
            }

            var scheduler = host.Services.GetRequiredService<IMessageScheduler<byte[]?, byte[]?>>();
            var value = new byte[settings.RecordSize];
            new Random(7).NextBytes(value);
            var random = new Random(11);

            // Warm-up: JIT, connections, the forwarder's first cancellation round; the target reader ignores these.
            var warmUpMax = Math.Min(settings.MaxDelay.TotalMilliseconds, 1500);
            await ScheduleAsync(scheduler, target, value, WarmUpRecords, settings.ScheduleBatch, i => $"w{i % 50}", () => TimeSpan.FromMilliseconds(100 + (random.NextDouble() * Math.Max(0, warmUpMax - 100))));
            if (!await WaitUntilAsync(() => reader.WarmUpReceived >= WarmUpRecords, TimeSpan.FromSeconds(60)))
            {
                throw new TimeoutException($"Only {reader.WarmUpReceived} of {WarmUpRecords} warm-up messages arrived in 60 s.");
            }

            Console.WriteLine($"  warm-up  {WarmUpRecords} messages delivered");
            var span = settings.MaxDelay - settings.MinDelay;
            var started = Stopwatch.GetTimestamp();
            var results = await ScheduleAsync(
                scheduler, target, value, settings.Records, settings.ScheduleBatch, i => $"k{i % settings.Keys}", () => settings.MinDelay + (span * random.NextDouble()));
            var scheduleSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var limit = settings.MaxDelay + TimeSpan.FromSeconds(60);
            if (!await WaitUntilAsync(() => reader.Received >= settings.Records, limit))
            {
                Console.WriteLine($"  only {reader.Received} of {settings.Records} messages arrived within {limit.TotalSeconds:0} s of the last schedule");
            }

            await Task.Delay(DuplicateGrace);
            var received = reader.Stop();
            return Measure(settings, results, received, settings.Records / scheduleSeconds, plainConsume);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    private static async Task<ScheduleResult[]> ScheduleAsync(
        IMessageScheduler<byte[]?, byte[]?> scheduler, string target, byte[] value, int count, int batch, Func<int, string> key, Func<TimeSpan> delay)
    {
        var results = new ScheduleResult[count];
        var tasks = new List<Task<ScheduleResult>>(batch);
        for (var start = 0; start < count; start += batch)
        {
            tasks.Clear();
            for (var i = start; i < Math.Min(count, start + batch); i++)
            {
                tasks.Add(scheduler.ScheduleAsync(target, Encoding.UTF8.GetBytes(key(i)), value, delay()));
            }

            (await Task.WhenAll(tasks)).CopyTo(results, start);
        }

        return results;
    }

    private static DelayRun Measure(DelaySettings settings, ScheduleResult[] results, List<(string Id, DateTimeOffset At)> received, double schedulePerSecond, double plainConsume)
    {
        var due = results.ToDictionary(r => r.ScheduleId, r => r.DueAt, StringComparer.Ordinal);
        var first = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var duplicates = 0;
        var unknown = 0;
        foreach (var (id, at) in received)
        {
            if (!due.ContainsKey(id))
            {
                unknown++;
            }
            else if (!first.TryAdd(id, at))
            {
                duplicates++;
            }
        }

        if (unknown > 0)
        {
            Console.WriteLine($"  {unknown} measured messages carried a schedule id that ScheduleAsync did not return");
        }

        var lateness = first.Select(f => (f.Value - due[f.Key]).TotalMilliseconds).Order().ToArray();
        var early = lateness.Count(l => l < 0);
        double Percentile(double p) => lateness.Length == 0 ? 0 : lateness[Math.Min(lateness.Length - 1, (int)Math.Ceiling(p * lateness.Length) - 1)];
        var firstDue = results.Min(r => r.DueAt);
        var lastDue = results.Max(r => r.DueAt);
        var lastReceived = first.Count == 0 ? firstDue : first.Values.Max();
        var window = (lastReceived - firstDue).TotalSeconds;
        var run = new DelayRun(
            settings.Records,
            settings.TiersText,
            first.Count,
            settings.Records - first.Count,
            early,
            duplicates,
            Percentile(0.50),
            Percentile(0.95),
            Percentile(0.99),
            lateness.Length == 0 ? 0 : lateness[^1],
            window > 0 ? first.Count / window : 0,
            lastDue > firstDue ? settings.Records / (lastDue - firstDue).TotalSeconds : 0,
            schedulePerSecond,
            window,
            plainConsume);
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"  measured {run.Delivered} of {run.Records} delivered in {run.WindowSeconds:0.00} s from the first due time, {run.RecordsPerSecond:0}/s (due at {run.DueRecordsPerSecond:0}/s on average, " +
            $"scheduled at {run.SchedulePerSecond:0}/s); lateness p50 {run.LatenessP50Ms:0} ms, p95 {run.LatenessP95Ms:0} ms, p99 {run.LatenessP99Ms:0} ms, max {run.LatenessMaxMs:0} ms; " +
            $"early {run.Early}, duplicates {run.Duplicates}; plain consume {run.PlainConsumeRecordsPerSecond:0}/s"));
        return run;
    }

    private static async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        while (!condition())
        {
            if (Stopwatch.GetElapsedTime(started) > timeout)
            {
                return false;
            }

            await Task.Delay(5);
        }

        return true;
    }

    /// <summary>
    /// Reads the target topic on a thread of its own with plain Confluent.Kafka (the librdkafka settings the library
    /// derives for a consumer, a new group, FetchWaitMax <see cref="TargetFetchWait"/>) and notes when each message
    /// arrives with its schedule id. Warm-up messages (keys starting with <c>w</c>) are only counted.
    /// </summary>
    private sealed class TargetReader : IDisposable
    {
        private readonly IConsumer<byte[]?, byte[]?> _consumer;
        private readonly int _partitions;
        private readonly Thread _thread;
        private readonly List<(string Id, DateTimeOffset At)> _received;
        private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
        private volatile bool _stop;
        private volatile bool _assigned;
        private int _warmUp;
        private int _distinct;

        public TargetReader(PerfCluster cluster, string topic, int partitions, int records)
        {
            var options = new ConsumerOptions { GroupId = $"perf-delay-target-{Guid.NewGuid():N}", FetchWaitMax = TargetFetchWait };
            options.Topics.Add(topic);
            var config = KafkaClientConfigBuilder.BuildConsumer(new ReliableKafkaOptions { BootstrapServers = cluster.BootstrapServers }, "perf-delay-target", options)
                .ThrowIfInvalid().Values;
            _consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();
            _consumer.Subscribe(topic);
            _partitions = partitions;
            _received = new List<(string Id, DateTimeOffset At)>(records + 1000);
            _thread = new Thread(Run) { IsBackground = true, Name = "perf-delay-target" };
        }

        public bool Assigned => _assigned;

        public int WarmUpReceived => Volatile.Read(ref _warmUp);

        /// <summary>Gets the distinct measured messages received so far.</summary>
        public int Received => Volatile.Read(ref _distinct);

        public void Start() => _thread.Start();

        /// <summary>Stops reading and returns every measured arrival (repeats included), in arrival order.</summary>
        public List<(string Id, DateTimeOffset At)> Stop()
        {
            _stop = true;
            _thread.Join();
            return _received;
        }

        public void Dispose()
        {
            if (_thread.IsAlive)
            {
                Stop();
            }

            _consumer.Close();
            _consumer.Dispose();
        }

        private void Run()
        {
            while (!_stop)
            {
                var result = _consumer.Consume(TimeSpan.FromMilliseconds(50));
                var at = DateTimeOffset.UtcNow;
                if (!_assigned && _consumer.Assignment.Count == _partitions)
                {
                    _assigned = true;
                }

                if (result is null || result.IsPartitionEOF)
                {
                    continue;
                }

                if (result.Message.Key is [(byte)'w', ..])
                {
                    Interlocked.Increment(ref _warmUp);
                    continue;
                }

                var id = result.Message.Headers.TryGetLastBytes(ReliableKafkaHeaders.MessageId, out var bytes) ? Encoding.UTF8.GetString(bytes) : string.Empty;
                _received.Add((id, at));
                if (_seen.Add(id))
                {
                    Interlocked.Increment(ref _distinct);
                }
            }
        }
    }
}
