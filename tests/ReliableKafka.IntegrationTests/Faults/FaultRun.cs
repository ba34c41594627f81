using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Deduplication;
using ReliableKafka.IntegrationTests.Infrastructure;
using ReliableKafka.Offsets.Internal;
using ReliableKafka.Testing;
using ReliableKafka.TestSupport;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Faults;

/// <summary>
/// One seeded scenario of the fault suite: an embedded cluster of 3 brokers (or the broker of
/// RELIABLEKAFKA_BOOTSTRAP_SERVERS, for scenarios that need no fault injection), a topic of 8 partitions with
/// about 200 keys, a ReliableKafka producer, consumer members sharing a deduplication store, and a logged schedule
/// of the faults. <see cref="FinishAsync"/> waits until everything is processed and committed, checks the
/// invariants and prints the scenario's line.
/// </summary>
internal sealed class FaultRun : IAsyncDisposable
{
    public const int Partitions = 8;
    public const int Keys = 200;
    public const string SeedVariable = "RELIABLEKAFKA_FAULT_SEED";
    private const string IdHeader = "fault-id";
    private static readonly object ReportGate = new();

    private readonly ITestOutputHelper _output;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<string> _schedule = [];
    private readonly List<Member> _members = [];
    private readonly InMemoryDeduplicationStore _store = new(new InMemoryDeduplicationOptions { MaxEntries = 1_000_000 });
    private readonly Dictionary<string, int> _nextSeq = [];
    private readonly HashSet<string> _poison = [];
    private readonly List<string> _progressViolations = [];
    private volatile bool _finished;
    private readonly CounterProbe _suppressed;
    private readonly IConsumer<byte[], byte[]> _observer;
    private readonly IHost _producerHost;
    private int _membersStarted;
    private int _faults;
    private TimeSpan[]? _retryBackoffs;

    private FaultRun(string name, int seed, ITestOutputHelper output, EmbeddedKafkaCluster? cluster, string bootstrapServers)
    {
        Name = name;
        Seed = seed;
        Random = new Random(seed);
        _output = output;
        Cluster = cluster;
        BootstrapServers = bootstrapServers;
        Topic = TestKafka.Unique($"faults-{name}");
        Group = TestKafka.Unique("faults");
        if (cluster is not null)
        {
            cluster.CreateTopic(Topic, Partitions);
            cluster.CreateTopic(Topic + DeadLetterOptions.DefaultTopicSuffix, 1);
        }

        _suppressed = new CounterProbe("reliablekafka.consumer.duplicates_suppressed", Group);
        _observer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = bootstrapServers, GroupId = Group, EnableAutoCommit = false })
            .SetLogHandler(KafkaClients.Ignore).Build();
        _producerHost = TestHost.Build(new QuietOutput(output), services => services
            .AddReliableKafka(o =>
            {
                o.BootstrapServers = bootstrapServers;
                TestHost.FastReconnect(o);
            })
            .AddProducer<string, FaultMessage>("faults", p => p.MessageTimeout = TimeSpan.FromSeconds(60))
            .AddProducer<string, string>("faults"));
        _producerHost.Start();
        Note($"seed {seed}, topic {Topic}, group {Group}, {(cluster is null ? bootstrapServers : "embedded cluster of 3 brokers")}");
    }

    public string Name { get; }

    public int Seed { get; }

    public Random Random { get; }

    public EmbeddedKafkaCluster? Cluster { get; }

    public string BootstrapServers { get; }

    public string Topic { get; }

    public string Group { get; }

    public World World { get; } = new();

    public FaultBehavior Behavior { get; } = new();

    public IReadOnlyList<Member> Members => _members;

    /// <summary>Gets or sets which messages fail every attempt (they end in the dead-letter topic), or null for none.</summary>
    public Func<string, bool>? AlwaysFails { get; set; }

    /// <summary>
    /// Makes the members' failure policy <see cref="FailurePolicy.RetryTopic"/> with these backoffs (no in-place
    /// retries) and creates the retry topics and the parking topic; effects are then ordered by sequence number.
    /// </summary>
    public void UseRetryTopics(params TimeSpan[] backoffs)
    {
        _retryBackoffs = backoffs;
        foreach (var backoff in backoffs)
        {
            Cluster!.CreateTopic(RetryTopicOptions.TopicFor(Group, Topic, backoff), Partitions);
        }

        Cluster!.CreateTopic(Group + RetryTopicOptions.DefaultParkingTopicSuffix, 3);
        World.OrderBySequence = true;
        Note($"retry topics {string.Join(", ", backoffs.Select(b => RetryTopicOptions.TopicFor(Group, Topic, b)))}, parking topic {Group}{RetryTopicOptions.DefaultParkingTopicSuffix}");
    }

    private IEnumerable<string> RetryTopics => (_retryBackoffs ?? []).Select(b => RetryTopicOptions.TopicFor(Group, Topic, b));

    /// <summary>
    /// Runs a scenario with a deadline: one that does not finish in 4 minutes fails with its schedule so far (a
    /// hang shows where it stopped), and disposing gets 30 seconds before it is abandoned.
    /// </summary>
    public static async Task RunAsync(string name, int defaultSeed, ITestOutputHelper output, Func<FaultRun, Task> scenario, bool needsFaultInjection = true)
    {
        var run = Start(name, defaultSeed, output, needsFaultInjection);
        try
        {
            await scenario(run).WaitAsync(ScenarioDeadline);
        }
        catch (TimeoutException)
        {
            run.Note($"scenario did not finish within {ScenarioDeadline.TotalMinutes:0} minutes");
            throw new TimeoutException($"fault scenario {name} (seed {run.Seed}) did not finish within {ScenarioDeadline.TotalMinutes:0} minutes; schedule:\n{string.Join('\n', run.Schedule)}");
        }
        finally
        {
            var disposing = run.DisposeAsync().AsTask();
            if (await Task.WhenAny(disposing, Task.Delay(TimeSpan.FromSeconds(30))) != disposing)
            {
                output.WriteLine("[schedule] disposing the run did not finish within 30 s; abandoned");
            }
        }
    }

    private static readonly TimeSpan ScenarioDeadline = TimeSpan.FromMinutes(4);

    /// <summary>Gets the schedule so far.</summary>
    public IReadOnlyList<string> Schedule
    {
        get
        {
            lock (_schedule)
            {
                return [.. _schedule];
            }
        }
    }

    /// <summary>Starts a scenario; <paramref name="needsFaultInjection"/> scenarios always run on the embedded cluster.</summary>
    private static FaultRun Start(string name, int defaultSeed, ITestOutputHelper output, bool needsFaultInjection = true)
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable(SeedVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var chosen) ? chosen : defaultSeed;
        var external = Environment.GetEnvironmentVariable(TestKafka.BootstrapVariable);
        if (!needsFaultInjection && !string.IsNullOrWhiteSpace(external))
        {
            using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = external }).Build();
            var run = new FaultRun(name, seed, output, null, external);
            admin.CreateTopicsAsync([
                new Confluent.Kafka.Admin.TopicSpecification { Name = run.Topic, NumPartitions = Partitions, ReplicationFactor = 1 },
                new Confluent.Kafka.Admin.TopicSpecification { Name = run.Topic + DeadLetterOptions.DefaultTopicSuffix, NumPartitions = 1, ReplicationFactor = 1 },
            ]).GetAwaiter().GetResult();
            return run;
        }

        var cluster = new EmbeddedKafkaCluster(new EmbeddedKafkaClusterOptions { BrokerCount = 3 });
        return new FaultRun(name, seed, output, cluster, cluster.BootstrapServers);
    }

    /// <summary>Injects a fault (logged in the schedule with its time), then reads the committed offsets to check them.</summary>
    public void Fault(string description, Action inject)
    {
        _faults++;
        Note($"fault {_faults}: {description}");
        inject();
        RecordCommitted("after fault " + _faults);
    }

    /// <summary>Injects a fault that takes time (logged in the schedule), then reads the committed offsets to check them.</summary>
    public async Task FaultAsync(string description, Func<Task> inject)
    {
        _faults++;
        Note($"fault {_faults}: {description}");
        await inject();
        RecordCommitted("after fault " + _faults);
    }

    /// <summary>A member with partitions and records in hand, waiting up to 5 s for one (crashing it then leaves work to redeliver).</summary>
    public async Task<Member> BusyMemberAsync()
    {
        for (var waited = 0; waited < 5000; waited += 50)
        {
            if (_members.Where(m => m.Engine?.Assignment.Count > 0 && m.Engine.BufferedRecords > 0).OrderBy(_ => Random.Next()).FirstOrDefault() is { } busy)
            {
                return busy;
            }

            await Task.Delay(50);
        }

        return _members[Random.Next(_members.Count)];
    }

    public void Note(string text)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"{_clock.Elapsed.TotalSeconds,7:0.000}s {text}");
        lock (_schedule)
        {
            _schedule.Add(line);
        }

        _output.WriteLine($"[schedule] {line}");
        AppendLive($"{Name} {line}");
    }

    /// <summary>Produces <paramref name="count"/> records over <see cref="Keys"/> keys, spread over <paramref name="spread"/>; a poison record's value is not JSON.</summary>
    public async Task ProduceAsync(int count, TimeSpan spread, double poisonRate = 0, CancellationToken cancellationToken = default)
    {
        var producer = _producerHost.Services.GetRequiredKeyedService<IReliableProducer<string, FaultMessage>>("faults");
        var poisonProducer = _producerHost.Services.GetRequiredKeyedService<IReliableProducer<string, string>>("faults");
        var sends = new List<Task>(count);
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            var key = $"k{Random.Next(Keys):D3}";
            var seq = _nextSeq[key] = _nextSeq.GetValueOrDefault(key) + 1;
            var message = new FaultMessage($"{Name}-{key}-{seq}", key, seq);
            var headers = new Headers { { IdHeader, Encoding.UTF8.GetBytes(message.Id) } };
            var poison = Random.NextDouble() < poisonRate;
            sends.Add(poison
                ? Acknowledge(poisonProducer.ProduceAsync(Topic, new Message<string, string> { Key = key, Value = "{ not json", Headers = headers }, cancellationToken), message, true)
                : Acknowledge(producer.ProduceAsync(Topic, new Message<string, FaultMessage> { Key = key, Value = message, Headers = headers }, cancellationToken), message, false));
            var due = spread * ((i + 1) / (double)count);
            if (due > watch.Elapsed + TimeSpan.FromMilliseconds(20))
            {
                await Task.Delay(due - watch.Elapsed, cancellationToken);
            }
        }

        await Task.WhenAll(sends);
    }

    public Member StartMember(Action<ConsumerOptions>? configure = null)
    {
        var name = $"m{++_membersStarted}";
        var inbox = new FaultInbox(_store, World);
        var host = TestHost.Build(new QuietOutput(_output), services =>
        {
            services.AddSingleton(World);
            services.AddSingleton(Behavior);
            services.AddScoped<FaultTransaction>();
            services.AddSingleton<IGroupOffsetStore>(new CommitRecorder(name, World));
            services.AddReliableKafka(o =>
                {
                    o.BootstrapServers = BootstrapServers;
                    TestHost.FastReconnect(o);
                })
                .UseDeduplicationStore<FaultInbox, InMemoryDeduplicationOptions>("Fault", (_, _) => inbox)
                .AddConsumer<string, FaultMessage, FaultHandler>("faults", o =>
                {
                    o.GroupId = Group;
                    o.Topics.Add(Topic);
                    TestHost.FastGroup(o);
                    o.DeliveryGuarantee = DeliveryGuarantee.ExactlyOnce;
                    o.Deduplication.LeaseDuration = TimeSpan.FromSeconds(5);
                    o.Retry.InitialDelay = TimeSpan.FromMilliseconds(20);
                    o.Retry.MaxDelay = TimeSpan.FromMilliseconds(100);
                    o.RevocationTimeout = TimeSpan.FromSeconds(3);
                    if (_retryBackoffs is { } backoffs)
                    {
                        o.FailurePolicy = FailurePolicy.RetryTopic;
                        o.Retry.MaxAttempts = 1;
                        o.RetryTopic.Backoffs.AddRange(backoffs);
                    }

                    configure?.Invoke(o);
                });
        });
        host.Start();
        var member = new Member(name, host, inbox);
        _members.Add(member);
        Note($"{name} started");
        return member;
    }

    /// <summary>Kills a member: no more store calls, no commit, no LeaveGroup; the group notices when its session times out.</summary>
    public async Task CrashAsync(Member member)
    {
        _faults++;
        Note($"fault {_faults}: {member.Name} crashes (no commit, no LeaveGroup)");
        member.Inbox.Kill();
        _members.Remove(member);
        var crash = Task.Run(async () =>
        {
            if (member.Engine is { } engine)
            {
                await engine.CrashAsync();
            }

            member.Host.Dispose();
        });
        await Bounded(crash, $"{member.Name}'s Kafka client", TimeSpan.FromSeconds(15));
        RecordCommitted("after fault " + _faults);
    }

    /// <summary>Stops a member gracefully (commits and leaves the group).</summary>
    public async Task StopAsync(Member member)
    {
        Note($"{member.Name} stops gracefully");
        _members.Remove(member);
        await Bounded(
            Task.Run(async () =>
            {
                await member.Host.StopAsync();
                member.Host.Dispose();
            }),
            $"{member.Name}'s graceful stop",
            TimeSpan.FromSeconds(45));
    }

    /// <summary>
    /// Watches that every partition with records waiting makes progress: a partition whose committed offset stays below
    /// its end without moving for <paramref name="limit"/> while members run is a violation (a partition assigned but
    /// never fetched, say). Runs until the run finishes.
    /// </summary>
    public void WatchProgress(TimeSpan limit)
    {
        _ = Task.Run(async () =>
        {
            var since = new Dictionary<int, (long Committed, Stopwatch Unchanged)>();
            while (!_finished)
            {
                await Task.Delay(500);
                Dictionary<int, long> end;
                List<TopicPartitionOffset> committed;
                try
                {
                    end = EndOffsets(Topic);
                    committed = _observer.Committed(end.Keys.Select(p => new TopicPartition(Topic, p)), TimeSpan.FromSeconds(5));
                }
                catch (KafkaException)
                {
                    continue;
                }

                foreach (var c in committed)
                {
                    var p = c.Partition.Value;
                    var offset = Math.Max(0, c.Offset.Value);
                    if (offset >= end[p] || !since.TryGetValue(p, out var seen) || seen.Committed != offset)
                    {
                        since[p] = (offset, Stopwatch.StartNew());
                        continue;
                    }

                    if (seen.Unchanged.Elapsed > limit && _members.Count > 0 && !_finished)
                    {
                        var text = $"progress: partition {p} stayed at committed offset {offset} below its end {end[p]} for {seen.Unchanged.Elapsed.TotalSeconds:0} s";
                        Note(text);
                        lock (_progressViolations)
                        {
                            _progressViolations.Add(text);
                        }

                        since[p] = (offset, Stopwatch.StartNew());
                    }
                }
            }
        });
    }

    /// <summary>Sends the dead-letter topic's records back to the topic (ReliableKafka's redrive), as an operator would once the cause seems fixed.</summary>
    public async Task<RedriveResult> RedriveAsync()
    {
        var result = await _producerHost.Services.GetRequiredService<IDeadLetterRedriver>()
            .RedriveAsync(new RedriveRequest { DeadLetterTopic = Topic + DeadLetterOptions.DefaultTopicSuffix, TargetTopic = Topic });
        Note($"redrive: {result.Redriven} record(s) sent back to the topic");
        return result;
    }

    /// <summary>Waits until every acknowledged record is processed (or, poison, dead-lettered) and every partition committed to its end.</summary>
    public async Task WaitForAllAsync(TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var (committed, end) = CommittedAndEnd();
            var processed = World.ProcessedCount;
            if (processed >= World.Acknowledged - _poison.Count && committed == end)
            {
                Note($"all {World.Acknowledged} records processed or dead-lettered, and committed ({end} offsets)");
                return;
            }

            if (watch.Elapsed > timeout)
            {
                Note($"gave up waiting: {processed} processed of {World.Acknowledged - _poison.Count}, {committed} of {end} offsets committed");
                return;
            }

            await Task.Delay(250);
        }
    }

    /// <summary>Checks the invariants, prints the scenario's line, and fails with the seed and schedule when one is broken.</summary>
    public async Task<FaultReport> FinishAsync(bool expectRedeliveries, Action<FaultReport>? alsoCheck = null)
    {
        _finished = true;
        foreach (var member in _members.ToList())
        {
            await StopAsync(member);
        }

        var log = ReadAll(Topic, r => (r.Partition.Value, r.Offset.Value, Id(r)));
        var dead = ReadAll(Topic + DeadLetterOptions.DefaultTopicSuffix, r => (
            int.Parse(Header(r, ReliableKafkaHeaders.DeadLetterOriginalPartition)!, CultureInfo.InvariantCulture),
            long.Parse(Header(r, ReliableKafkaHeaders.DeadLetterOriginalOffset)!, CultureInfo.InvariantCulture),
            Id(r)));
        var report = _retryBackoffs is null ? World.Check(log, dead, _suppressed.Total) : CheckWithRetryTopics(log, dead);
        var line = report.Line(Name, Seed, _faults);
        _output.WriteLine(line);
        _output.WriteLine($"(commits checked: {report.Commits}, transient failures injected: {Behavior.TransientFailures}, poison: {_poison.Count}, dead-lettered: {dead.Count}, log records: {log.Count})");
        WriteReport(line);

        var problems = report.Violations.ToList();
        if (expectRedeliveries && report.Redeliveries == 0)
        {
            problems.Add("no redelivery happened: the faults did not force one, so D proved nothing");
        }

        // Every failed delivery of a poison record is in the dead-letter topic once: the original, and each redriven
        // copy (which fails again), however often a member crashed or a partition moved meanwhile.
        var poisonDead = dead.Select(d => d.Item3).ToList();
        var deliveries = log.GroupBy(r => r.Item3).ToDictionary(g => g.Key, g => g.Count());
        var deadCounts = poisonDead.GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());
        if (_poison.Count > 0 && !deadCounts.Keys.ToHashSet().SetEquals(_poison))
        {
            problems.Add($"the dead-letter topic holds {deadCounts.Count} distinct ids, not exactly the {_poison.Count} poison records");
        }

        // Through retry topics, a copy sent twice after a crash (before its source offset was committed) fails its way
        // to the dead-letter topic twice: at least once per delivery is what holds there.
        foreach (var id in _poison.Where(id => _retryBackoffs is null
            ? deadCounts.GetValueOrDefault(id) != deliveries.GetValueOrDefault(id)
            : deadCounts.GetValueOrDefault(id) < deliveries.GetValueOrDefault(id)).Take(10))
        {
            problems.Add($"poison {id} was delivered {deliveries.GetValueOrDefault(id)} time(s) but is in the dead-letter topic {deadCounts.GetValueOrDefault(id)} time(s)");
        }

        problems.AddRange(_progressViolations);

        try
        {
            alsoCheck?.Invoke(report);
            (report.Lost + report.DuplicateEffects + report.OrderViolations + report.CommitViolations + problems.Count).Should().Be(
                0, "{0}\nseed {1} (replay: {2}={1} ./build.sh faults)\nschedule:\n{3}\nviolations:\n{4}", line, Seed, SeedVariable, string.Join('\n', _schedule), string.Join('\n', problems));
        }
        catch
        {
            _output.WriteLine("schedule:\n" + string.Join('\n', _schedule));
            throw;
        }

        return report;
    }

    /// <summary>
    /// The invariants when records go through retry topics: a source record counts as settled once a copy of it is in the
    /// first retry topic, and a retry topic's record once it was processed, dead-lettered or sent to the next one.
    /// </summary>
    private FaultReport CheckWithRetryTopics(List<(int Partition, long Offset, string Id)> log, List<(int Partition, long Offset, string Id)> dead)
    {
        var levels = RetryTopics.ToList();
        var copies = levels.Select(topic => ReadAll(topic, r => (
            r.Partition.Value,
            r.Offset.Value,
            Id: Id(r),
            Origin: (int.Parse(Header(r, ReliableKafkaHeaders.RetryOriginalPartition)!, CultureInfo.InvariantCulture), long.Parse(Header(r, ReliableKafkaHeaders.RetryOriginalOffset)!, CultureInfo.InvariantCulture)))))
            .ToList();
        var forwardedFromSource = copies[0].Select(c => c.Origin).ToHashSet();
        var idsAt = levels.Select((topic, i) => copies[i].ToDictionary(c => (c.Item1, c.Item2), c => c.Id)).ToList();
        var idsIn = copies.Select(level => level.Select(c => c.Id).ToHashSet(StringComparer.Ordinal)).ToList();
        var deadIds = dead.Select(d => d.Id).ToHashSet(StringComparer.Ordinal);
        Note($"retry topics hold {string.Join(" / ", copies.Select(c => c.Count))} records");
        return World.Check(log, dead, _suppressed.Total, Topic, (partition, offset) =>
        {
            if (partition.Topic == Topic)
            {
                return forwardedFromSource.Contains((partition.Partition.Value, offset));
            }

            var level = levels.IndexOf(partition.Topic);
            if (level < 0 || !idsAt[level].TryGetValue((partition.Partition.Value, offset), out var id))
            {
                return level < 0; // another topic's commit is not this check's business; an offset with no record is a violation
            }

            return World.IsProcessed(id) || deadIds.Contains(id) || (level + 1 < levels.Count && idsIn[level + 1].Contains(id));
        });
    }

    /// <summary>
    /// Waits for a member's client to shut down, at most <paramref name="limit"/>: librdkafka's destroy can wait
    /// without end for a commit whose coordinator never answers (seen on the embedded cluster after coordinator
    /// faults). The member is gone either way; its stuck client is left behind and noted in the schedule.
    /// </summary>
    private async Task Bounded(Task shutdown, string what, TimeSpan limit)
    {
        if (await Task.WhenAny(shutdown, Task.Delay(limit)) != shutdown)
        {
            Note($"{what} did not shut down within {limit.TotalSeconds:0} s; left behind");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var member in _members.ToList())
        {
            member.Inbox.Kill();
            member.Host.Dispose();
        }

        await _producerHost.StopAsync();
        _producerHost.Dispose();
        _observer.Dispose();
        _suppressed.Dispose();
        Cluster?.Dispose();
    }

    private static string Id(ConsumeResult<string, string> record) => Header(record, IdHeader) ?? $"unknown@{record.Partition.Value}/{record.Offset.Value}";

    private static string? Header(ConsumeResult<string, string> record, string key) =>
        record.Message.Headers.TryGetLastBytes(key, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;

    internal static void WriteReport(string line) => Append("faults.txt", line);

    /// <summary>The schedule as it happens (faults-schedule.txt), so that a run killed for hanging still shows where it was.</summary>
    private static void AppendLive(string line) => Append("faults-schedule.txt", line);

    private static void Append(string file, string line)
    {
        var directory = Path.Combine(FindRoot(), "artifacts", "test-results");
        Directory.CreateDirectory(directory);
        lock (ReportGate)
        {
            File.AppendAllText(Path.Combine(directory, file), line + Environment.NewLine);
        }
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ReliableKafka.sln")))
            {
                return directory.FullName;
            }
        }

        return AppContext.BaseDirectory;
    }

    private async Task Acknowledge(Task<ProduceResult> send, FaultMessage message, bool poison)
    {
        try
        {
            await send;
            lock (_poison)
            {
                World.Acknowledge(message);
                if (poison || AlwaysFails?.Invoke(message.Id) == true)
                {
                    _poison.Add(message.Id);
                }
            }
        }
        catch (ReliableKafkaProduceException e)
        {
            Note($"produce of {message.Id} failed ({e.ErrorCode}); not acknowledged, so not required");
        }
    }

    private List<T> ReadAll<T>(string topic, Func<ConsumeResult<string, string>, T> select)
    {
        var end = EndOffsets(topic).Values.Sum();
        return [.. KafkaClients.ReadAll(BootstrapServers, topic, (int)end, TimeSpan.FromSeconds(60)).Select(select)];
    }

    private Dictionary<int, long> EndOffsets(string topic)
    {
        var partitions = topic == Topic || RetryTopics.Contains(topic) ? Partitions : 1;
        return Enumerable.Range(0, partitions).ToDictionary(
            p => p,
            p => _observer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value);
    }

    private (long Committed, long End) CommittedAndEnd()
    {
        try
        {
            var end = EndOffsets(Topic);
            var committed = _observer.Committed(end.Keys.Select(p => new TopicPartition(Topic, p)), TimeSpan.FromSeconds(5));
            return (committed.Sum(c => Math.Max(0, c.Offset.Value)), end.Values.Sum());
        }
        catch (KafkaException)
        {
            return (-1, 0);
        }
    }

    /// <summary>Reads the group's committed offsets from the brokers and checks them like a member's commit.</summary>
    private void RecordCommitted(string when)
    {
        try
        {
            var committed = _observer.Committed(Enumerable.Range(0, Partitions).Select(p => new TopicPartition(Topic, p)), TimeSpan.FromSeconds(5));
            World.Committed(when, committed.Where(c => c.Offset.Value > 0).Select(c => (c.TopicPartition, c.Offset.Value)));
        }
        catch (KafkaException e)
        {
            Note($"reading the committed offsets {when} failed ({e.Error.Code}); checked at the next commit instead");
        }
    }

    /// <summary>A consumer member of the run.</summary>
    internal sealed record Member(string Name, IHost Host, FaultInbox Inbox)
    {
        public ConsumerEngine? Engine => Host.Services.GetServices<IHostedService>().OfType<IReliableConsumerService>().Single().Engine;
    }

    /// <summary>Keeps the members' and producer's logs to warnings and above, so that a scenario's output stays readable.</summary>
    internal sealed class QuietOutput(ITestOutputHelper output) : ITestOutputHelper
    {
        public void WriteLine(string message)
        {
            if (!message.Contains(" Information ", StringComparison.Ordinal) && !message.Contains(" Debug ", StringComparison.Ordinal) && !message.Contains(" Trace ", StringComparison.Ordinal))
            {
                output.WriteLine(message);
            }
        }

        public void WriteLine(string format, params object[] args) => WriteLine(string.Format(CultureInfo.InvariantCulture, format, args));
    }
}
