using System.CommandLine;
using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using ReliableKafka;
using ReliableKafka.Perf;

var bootstrapServers = new Option<string?>("--bootstrap-servers") { Description = "Kafka to run against; without it an embedded cluster (librdkafka's mock) is started." };
var topic = new Option<string?>("--topic") { Description = "Topic to use (default: a new topic per run)." };
var compareRaw = new Option<bool>("--compare-raw") { Description = "Also run the same workload with plain Confluent.Kafka, alternating, and print the ratio." };
var rounds = new Option<int>("--rounds") { Description = "Measured rounds per client (the median is reported).", DefaultValueFactory = _ => 3 };
var json = new Option<FileInfo?>("--json") { Description = "Also write the results to this file as JSON." };
var numRecords = new Option<int>("--num-records") { Description = "Records per round.", DefaultValueFactory = _ => 200_000 };
var recordSize = new Option<int>("--record-size") { Description = "Value size in bytes.", DefaultValueFactory = _ => 1024 };
var throughput = new Option<long>("--throughput") { Description = "Maximum records/s (-1: no limit).", DefaultValueFactory = _ => -1 };
var acks = new Option<string?>("--acks") { Description = "0, 1 or all (default: the guarantee's)." };
acks.AcceptOnlyFromAmong("0", "1", "all", "-1");
var guarantee = new Option<DeliveryGuarantee>("--guarantee") { Description = "AtMostOnce or AtLeastOnce.", DefaultValueFactory = _ => DeliveryGuarantee.AtLeastOnce };
var partitions = new Option<int>("--partitions") { Description = "Partitions of the topic.", DefaultValueFactory = _ => 8 };
var keys = new Option<int>("--keys") { Description = "Distinct keys, round robin (0: no keys).", DefaultValueFactory = _ => 0 };
var maxInFlight = new Option<int>("--max-in-flight") { Description = "Records sent but not yet acknowledged, at most.", DefaultValueFactory = _ => 50_000 };
var messageIdHeader = new Option<bool>("--message-id-header") { Description = "Whether ReliableKafka adds its message-id header (ProducerOptions.MessageIdHeader).", DefaultValueFactory = _ => true };
var consumeRecords = new Option<int>("--num-records") { Description = "Records per round.", DefaultValueFactory = _ => 120_000 };
var consumePartitions = new Option<int>("--partitions") { Description = "Partitions of the topic.", DefaultValueFactory = _ => 48 };

var produce = new Command("produce", "Produce through IReliableProducer (like kafka-producer-perf-test).")
{
    numRecords, recordSize, throughput, acks, guarantee, partitions, keys, maxInFlight, messageIdHeader, bootstrapServers, topic, compareRaw, rounds, json,
};
produce.SetAction(async (parse, _) =>
{
    var settings = new ProduceSettings(
        parse.GetValue(numRecords), parse.GetValue(recordSize), parse.GetValue(throughput), ParseAcks(parse.GetValue(acks)),
        parse.GetValue(guarantee), parse.GetValue(partitions), parse.GetValue(keys), parse.GetValue(maxInFlight), parse.GetValue(messageIdHeader));
    var report = new Report();
    using var cluster = PerfCluster.Open(parse.GetValue(bootstrapServers));
    Console.WriteLine($"Running on the {cluster.Description}.");
    report.Add(RunProduce(cluster, parse.GetValue(topic), settings, parse.GetValue(rounds), parse.GetValue(compareRaw)));
    return await report.FinishAsync(parse.GetValue(json));
});

var consume = new Command("consume", "Consume through a ReliableKafka consumer with a handler that does nothing.")
{
    consumeRecords, recordSize, consumePartitions, bootstrapServers, topic, compareRaw, rounds, json,
};
consume.SetAction(async (parse, _) =>
{
    var settings = new ConsumeSettings(parse.GetValue(consumeRecords), parse.GetValue(recordSize), parse.GetValue(consumePartitions));
    var report = new Report();
    using var cluster = PerfCluster.Open(parse.GetValue(bootstrapServers));
    Console.WriteLine($"Running on the {cluster.Description}.");
    report.Add(await RunConsumeAsync(cluster, parse.GetValue(topic), settings, parse.GetValue(rounds), parse.GetValue(compareRaw)));
    return await report.FinishAsync(parse.GetValue(json));
});

var engineRecords = new Option<int>("--num-records") { Description = "Records to handle.", DefaultValueFactory = _ => 20_000 };
var engineKeys = new Option<int>("--keys") { Description = "Distinct keys.", DefaultValueFactory = _ => 1000 };
var enginePartitions = new Option<int>("--partitions") { Description = "Partitions of the topic.", DefaultValueFactory = _ => 8 };
var engineWork = new Option<int>("--work-ms") { Description = "Milliseconds of async work (Task.Delay) per record.", DefaultValueFactory = _ => 5 };
var engineConcurrency = new Option<int>("--max-concurrency") { Description = "MaxConcurrency in Key mode.", DefaultValueFactory = _ => 256 };
var engine = new Command("engine", "Key mode against Partition mode with a handler doing async work per record.")
{
    engineRecords, engineKeys, enginePartitions, engineWork, engineConcurrency, bootstrapServers, json,
};
engine.SetAction(async (parse, _) =>
{
    var settings = new EngineSettings(
        parse.GetValue(engineRecords), parse.GetValue(engineKeys), parse.GetValue(enginePartitions), TimeSpan.FromMilliseconds(parse.GetValue(engineWork)), parse.GetValue(engineConcurrency));
    var report = new Report();
    using var cluster = PerfCluster.Open(parse.GetValue(bootstrapServers));
    Console.WriteLine($"Running on the {cluster.Description}.");
    report.Add(await RunEngineAsync(cluster, settings));
    return await report.FinishAsync(parse.GetValue(json));
});

var dedupStore = new Option<string>("--store") { Description = "inmemory, sqlite, postgresql or all.", DefaultValueFactory = _ => "all" };
dedupStore.AcceptOnlyFromAmong("all", DedupBenchmark.InMemory, DedupBenchmark.Sqlite, DedupBenchmark.PostgreSql);
var dedupRecords = new Option<int>("--num-records") { Description = "Records per round with the in-memory store.", DefaultValueFactory = _ => 120_000 };
var dedupDurableRecords = new Option<int>("--durable-records") { Description = "Records per round with the SQLite and PostgreSQL stores.", DefaultValueFactory = _ => 30_000 };
var dedupKeys = new Option<int>("--keys") { Description = "Distinct keys, round robin.", DefaultValueFactory = _ => 1000 };
var postgreSql = new Option<string?>("--postgresql") { Description = "Npgsql connection string (default: RELIABLEKAFKA_POSTGRESQL, which ./build.sh bench sets)." };
var dedup = new Command("dedup", "Consume with each deduplication store against no store, alternating in the same run.")
{
    dedupStore, dedupRecords, dedupDurableRecords, recordSize, consumePartitions, dedupKeys, postgreSql, bootstrapServers, rounds, json,
};
dedup.SetAction(async (parse, _) =>
{
    var chosen = parse.GetValue(dedupStore)!;
    var settings = new DedupSettings(
        chosen == "all" ? [DedupBenchmark.InMemory, DedupBenchmark.Sqlite, DedupBenchmark.PostgreSql] : [chosen],
        parse.GetValue(dedupRecords), parse.GetValue(dedupDurableRecords), parse.GetValue(recordSize), parse.GetValue(consumePartitions),
        parse.GetValue(dedupKeys), parse.GetValue(postgreSql) ?? Environment.GetEnvironmentVariable("RELIABLEKAFKA_POSTGRESQL"));
    var report = new Report();
    using var cluster = PerfCluster.Open(parse.GetValue(bootstrapServers));
    Console.WriteLine($"Running on the {cluster.Description}.");
    foreach (var store in settings.Stores)
    {
        report.Add(await DedupBenchmark.RunAsync(cluster, store, settings, parse.GetValue(rounds)));
    }

    return await report.FinishAsync(parse.GetValue(json));
});

var delayRecords = new Option<int>("--num-records") { Description = "Messages scheduled in the measured run.", DefaultValueFactory = _ => 20_000 };
var delayTiers = new Option<string>("--tiers") { Description = "Delay tiers, shortest first (ms, s, m or h).", DefaultValueFactory = _ => "200ms,1s,5s" };
var delayMin = new Option<int>("--min-delay-ms") { Description = "Shortest delay; delays are uniformly random between the two.", DefaultValueFactory = _ => 100 };
var delayMax = new Option<int>("--max-delay-ms") { Description = "Longest delay.", DefaultValueFactory = _ => 8000 };
var delayPartitions = new Option<int>("--partitions") { Description = "Partitions of each delay topic and of the target topic.", DefaultValueFactory = _ => 6 };
var delayKeys = new Option<int>("--keys") { Description = "Distinct keys, round robin.", DefaultValueFactory = _ => 1000 };
var delayBatch = new Option<int>("--schedule-batch") { Description = "ScheduleAsync calls in flight at once (awaited together).", DefaultValueFactory = _ => 1000 };
var delayFetchWait = new Option<int>("--forwarder-fetch-wait-ms") { Description = "The forwarder's FetchWaitMax (the library's default is 50 ms).", DefaultValueFactory = _ => 20 };
var delayConcurrency = new Option<int?>("--forwarder-concurrency") { Description = "The forwarder's MaxConcurrency (default: the library's)." };
var delayRounds = new Option<int>("--rounds") { Description = "Measured rounds of the plain consume workload (the median is compared).", DefaultValueFactory = _ => 3 };
var delayCommand = new Command("delay", "Scheduled messages through the delay tiers and the forwarder: lateness at the target and throughput, against plain consume.")
{
    delayRecords, recordSize, delayTiers, delayMin, delayMax, delayPartitions, delayKeys, delayBatch, delayFetchWait, delayConcurrency, bootstrapServers, delayRounds, json,
};
delayCommand.SetAction(async (parse, _) =>
{
    var settings = new DelaySettings(
        parse.GetValue(delayRecords), parse.GetValue(recordSize), DelayBenchmark.ParseTiers(parse.GetValue(delayTiers)!),
        TimeSpan.FromMilliseconds(parse.GetValue(delayMin)), TimeSpan.FromMilliseconds(parse.GetValue(delayMax)), parse.GetValue(delayPartitions),
        Math.Max(1, parse.GetValue(delayKeys)), Math.Max(1, parse.GetValue(delayBatch)), TimeSpan.FromMilliseconds(parse.GetValue(delayFetchWait)), parse.GetValue(delayConcurrency));
    if (settings.MinDelay <= TimeSpan.Zero || settings.MaxDelay <= settings.MinDelay)
    {
        throw new ArgumentException("--min-delay-ms must be positive and --max-delay-ms larger.");
    }

    var report = new Report();
    using var cluster = PerfCluster.Open(parse.GetValue(bootstrapServers));
    Console.WriteLine($"Running on the {cluster.Description}.");
    var run = await DelayBenchmark.RunAsync(cluster, settings, parse.GetValue(delayRounds));
    report.Add(run.Line(), run);
    return await report.FinishAsync(parse.GetValue(json));
});

var retryRecords = new Option<int>("--num-records") { Description = "Records per run.", DefaultValueFactory = _ => 10_000 };
var retryKeys = new Option<int>("--keys") { Description = "Distinct keys, round robin.", DefaultValueFactory = _ => 200 };
var retryPartitions = new Option<int>("--partitions") { Description = "Partitions of the topic and of its retry topic.", DefaultValueFactory = _ => 8 };
var retryWork = new Option<int>("--work-ms") { Description = "Milliseconds of async work (Task.Delay) per attempt.", DefaultValueFactory = _ => 2 };
var retryFailing = new Option<int>("--failing-per-mille") { Description = "Records per thousand whose first attempt fails.", DefaultValueFactory = _ => 10 };
var retryBackoff = new Option<int>("--backoff-ms") { Description = "The backoff before a failed record is tried again (in place, or through the retry topic).", DefaultValueFactory = _ => 5_000 };
var retryConcurrency = new Option<int>("--max-concurrency") { Description = "MaxConcurrency.", DefaultValueFactory = _ => 64 };
var retryCommand = new Command("retry", "Records that fail once: in-place retries against retry topics with the same backoff, in Key and Partition ordering.")
{
    retryRecords, retryKeys, retryPartitions, retryWork, retryFailing, retryBackoff, retryConcurrency, bootstrapServers, json,
};
retryCommand.SetAction(async (parse, _) =>
{
    var settings = new RetrySettings(
        parse.GetValue(retryRecords), Math.Max(1, parse.GetValue(retryKeys)), parse.GetValue(retryPartitions), TimeSpan.FromMilliseconds(parse.GetValue(retryWork)),
        parse.GetValue(retryFailing), TimeSpan.FromMilliseconds(parse.GetValue(retryBackoff)), parse.GetValue(retryConcurrency));
    var report = new Report();
    using var cluster = PerfCluster.Open(parse.GetValue(bootstrapServers));
    Console.WriteLine($"Running on the {cluster.Description}.");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"retry: {settings.Records} records over {settings.Keys} keys and {settings.Partitions} partitions, {settings.Work.TotalMilliseconds:0} ms of work each, {settings.FailingPerMille / 10.0:0.#}% failing once, backoff {settings.Backoff.TotalMilliseconds:0} ms"));
    var runs = await RetryBenchmark.RunAsync(cluster, settings);
    foreach (var run in runs)
    {
        var basis = runs.FirstOrDefault(r => r.Ordering == run.Ordering && r.Policy == "in-place");
        report.Add(run.Line(run.Policy == "in-place" ? null : basis?.RecordsPerSecond), run);
    }

    return await report.FinishAsync(parse.GetValue(json));
});

var telemetryRecords = new Option<int>("--num-records") { Description = "Records per round.", DefaultValueFactory = _ => 120_000 };
var telemetryKeys = new Option<int>("--keys") { Description = "Distinct keys, round robin.", DefaultValueFactory = _ => 1000 };
var telemetryCommand = new Command("telemetry", "Consume with OpenTelemetry tracing and metrics listening (exporters attached) against nobody listening, alternating in the same run.")
{
    telemetryRecords, recordSize, consumePartitions, telemetryKeys, bootstrapServers, rounds, json,
};
telemetryCommand.SetAction(async (parse, _) =>
{
    var settings = new TelemetrySettings(parse.GetValue(telemetryRecords), parse.GetValue(recordSize), parse.GetValue(consumePartitions), parse.GetValue(telemetryKeys));
    var report = new Report();
    using var cluster = PerfCluster.Open(parse.GetValue(bootstrapServers));
    Console.WriteLine($"Running on the {cluster.Description}.");
    report.Add(await TelemetryBenchmark.RunAsync(cluster, settings, parse.GetValue(rounds)));
    return await report.FinishAsync(parse.GetValue(json));
});

var suiteRounds = new Option<int>("--rounds") { Description = "Measured rounds per client.", DefaultValueFactory = _ => 5 };
var root = new RootCommand(
    "ReliableKafka perf tool. Without a command: the quick suite (1 KiB produce with acks=all and consume, each side by side with raw Confluent.Kafka).")
{
    produce, consume, engine, dedup, delayCommand, retryCommand, telemetryCommand, bootstrapServers, suiteRounds, json,
};
root.SetAction(async (parse, _) =>
{
    var report = new Report();
    using var cluster = PerfCluster.Open(parse.GetValue(bootstrapServers));
    Console.WriteLine($"Running on the {cluster.Description}.");
    var count = parse.GetValue(suiteRounds);
    report.Add(RunProduce(cluster, null, new ProduceSettings(200_000, 1024, -1, Acks.All, DeliveryGuarantee.AtLeastOnce, 8, 0, 50_000), count, compare: true));
    report.Add(RunProduce(cluster, null, new ProduceSettings(200_000, 1024, -1, Acks.All, DeliveryGuarantee.AtLeastOnce, 8, 0, 50_000, MessageIdHeader: false), count, compare: true));
    var consumeNoOp = await RunConsumeAsync(cluster, null, new ConsumeSettings(120_000, 1024, 48), count, compare: true);
    report.Add(consumeNoOp);
    report.Add(await RunEngineAsync(cluster, new EngineSettings(20_000, 1000, 8, TimeSpan.FromMilliseconds(5), 256)));
    var dedupSettings = new DedupSettings(
        [DedupBenchmark.InMemory, DedupBenchmark.Sqlite, DedupBenchmark.PostgreSql], 120_000, 30_000, 1024, 48, 1000, Environment.GetEnvironmentVariable("RELIABLEKAFKA_POSTGRESQL"));
    foreach (var store in dedupSettings.Stores)
    {
        report.Add(await DedupBenchmark.RunAsync(cluster, store, dedupSettings, rounds: 3));
    }

    report.AddClosingLine(consumeNoOp.Summary().First().Replace("consume 1024B:", "consume no-op:", StringComparison.Ordinal));
    return await report.FinishAsync(parse.GetValue(json));
});

return await root.Parse(args).InvokeAsync();

static Acks? ParseAcks(string? text) => text switch
{
    null => null,
    "0" => Acks.None,
    "1" => Acks.Leader,
    _ => Acks.All,
};

static Comparison RunProduce(PerfCluster cluster, string? topicName, ProduceSettings settings, int rounds, bool compare)
{
    var label = string.Create(CultureInfo.InvariantCulture, $"produce acks={settings.AcksText} {settings.RecordSize}B{(settings.MessageIdHeader ? string.Empty : " without message-id header")}");
    try
    {
        ProduceBenchmark.RawConfig(cluster, settings);
    }
    catch (OptionsValidationException e)
    {
        throw new InvalidOperationException($"Invalid producer settings: {e.Message}", e);
    }

    var name = cluster.CreateTopic(topicName, "perf-produce", settings.Partitions);
    Console.WriteLine($"{label}: {settings.Records} records per round to '{name}' ({settings.Partitions} partitions, {settings.Guarantee}, keys {settings.Keys}, throughput {(settings.Throughput > 0 ? settings.Throughput : "unlimited")}), {rounds} round(s){(compare ? ", alternating with raw Confluent.Kafka" : string.Empty)}");
    var comparison = new Comparison("produce", label);
    string[] clients = !compare ? ["reliable"] : settings.MessageIdHeader ? ["reliable", "raw", "raw+id", "raw-async"] : ["reliable", "raw", "raw-async"];
    // Round 0 warms up each client (JIT tiering, connections) and is not counted.
    for (var round = 0; round <= rounds; round++)
    {
        // Rotate the order every round so that no client always runs first (or last) on a warming machine.
        foreach (var client in clients.Skip(round % clients.Length).Concat(clients.Take(round % clients.Length)))
        {
            var run = client switch
            {
                "reliable" => ProduceBenchmark.RunReliable(cluster, name, settings, round),
                "raw" => ProduceBenchmark.RunRaw(cluster, name, settings, round),
                "raw-async" => ProduceBenchmark.RunRawAsync(cluster, name, settings, round),
                _ => ProduceBenchmark.RunRaw(cluster, name, settings, round, withMessageId: true),
            };
            Console.WriteLine($"  {(round == 0 ? "warm-up" : $"round {round}")} {run.Client,-8} {run.Describe()}");
            if (round > 0)
            {
                comparison.Add(run.Client, run.RecordsPerSecond, run);
            }
        }
    }

    return comparison;
}

static async Task<Comparison> RunEngineAsync(PerfCluster cluster, EngineSettings settings)
{
    var label = string.Create(CultureInfo.InvariantCulture, $"engine key-vs-partition {settings.Work.TotalMilliseconds:0}ms");
    var name = cluster.CreateTopic(null, "perf-engine", settings.Partitions);
    Console.WriteLine($"{label}: {settings.Records} records over {settings.Keys} keys and {settings.Partitions} partitions, {settings.Work.TotalMilliseconds:0} ms of async work each; Key mode (MaxConcurrency {settings.MaxConcurrency}) then Partition mode");
    EngineBenchmark.Fill(cluster, name, settings);
    var comparison = new Comparison("engine", label, "key", "partition");
    foreach (var mode in new[] { OrderingMode.Key, OrderingMode.Partition })
    {
        var run = await EngineBenchmark.RunAsync(cluster, name, settings, mode);
        Console.WriteLine($"  {run.Mode,-9} {run.Describe()}");
        comparison.Add(mode == OrderingMode.Key ? "key" : "partition", run.RecordsPerSecond, run);
    }

    return comparison;
}

static async Task<Comparison> RunConsumeAsync(PerfCluster cluster, string? topicName, ConsumeSettings settings, int rounds, bool compare)
{
    var label = string.Create(CultureInfo.InvariantCulture, $"consume {settings.RecordSize}B");
    var perPartition = (long)Math.Ceiling(settings.Records / (double)settings.Partitions) * (settings.RecordSize + 100);
    if (cluster.IsEmbedded && perPartition > ConsumeBenchmark.MaxBytesPerPartition)
    {
        throw new InvalidOperationException(
            $"{settings.Records} records of {settings.RecordSize} B over {settings.Partitions} partitions is about {perPartition / 1024} KiB per partition; the embedded cluster keeps " +
            $"only about 5 MiB per partition and drops older data silently. Use at least {(long)settings.Records * (settings.RecordSize + 100) / ConsumeBenchmark.MaxBytesPerPartition + 1} partitions or fewer records.");
    }

    var name = cluster.CreateTopic(topicName, "perf-consume", settings.Partitions);
    Console.WriteLine($"{label}: filling '{name}' with {settings.Records} records over {settings.Partitions} partitions, then {rounds} round(s) reading all of it{(compare ? ", alternating with raw Confluent.Kafka" : string.Empty)}");
    ConsumeBenchmark.Fill(cluster, name, settings);
    var comparison = new Comparison("consume", label);
    string[] clients = compare ? ["reliable", "raw"] : ["reliable"];
    // Round 0 warms up each client (JIT tiering, connections) and is not counted.
    for (var round = 0; round <= rounds; round++)
    {
        foreach (var client in clients.Skip(round % clients.Length).Concat(clients.Take(round % clients.Length)))
        {
            var run = client == "reliable"
                ? await ConsumeBenchmark.RunReliableAsync(cluster, name, settings, round)
                : ConsumeBenchmark.RunRaw(cluster, name, settings, round);
            Console.WriteLine($"  {(round == 0 ? "warm-up" : $"round {round}")} {run.Client,-8} {run.Describe()}");
            if (round > 0)
            {
                comparison.Add(run.Client, run.RecordsPerSecond, run);
            }
        }
    }

    return comparison;
}
