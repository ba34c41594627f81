using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Faults;

/// <summary>
/// The delay tiers under forwarder crashes and churn: 20,000 messages with random delays flow through tiers of 200 ms,
/// 1 s and 5 s while forwarders are killed without Close, join and leave; some messages are cancelled. Checks: every
/// message not cancelled is delivered (lost=0), none before its due time (early=0), each handled once by the target's
/// idempotent consumer (dup_effects=0), and none that CancelAsync called Cancelled is delivered (cancelled_delivered=0).
/// </summary>
[Trait("Category", "Faults")]
[Collection(nameof(FaultScenarioTests))]
public sealed class DelayFaultScenarioTests(ITestOutputHelper output)
{
    private const int Records = 20_000;
    private static readonly TimeSpan[] Tiers = [TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5)];

    private readonly ConcurrentDictionary<string, int> _effects = new();
    private readonly ConcurrentDictionary<string, DateTimeOffset> _received = new();
    private readonly List<string> _schedule = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    [Fact]
    public async Task ForwardersCrashJoinAndLeave_WhileScheduledMessagesFlow_NoneLostEarlyRepeatedOrDeliveredAfterCancel()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable(FaultRun.SeedVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 113;
        var random = new Random(seed);
        using var kafka = TestKafka.Start(brokers: 3);
        var prefix = TestKafka.Unique("delay-faults");
        var options = new DelayedDeliveryOptions { TopicPrefix = prefix };
        options.Tiers.AddRange(Tiers);
        foreach (var topic in options.RequiredTopics())
        {
            kafka.CreateNamedTopic(topic, 6);
        }

        var target = kafka.CreateTopic("delay-faults-target", 6);
        var group = TestKafka.Unique("forwarders");
        Note($"seed {seed}, prefix {prefix}, target {target}, embedded cluster of 3 brokers");
        using var scheduling = Host(kafka, prefix, group, forward: false, target: null);
        using var consuming = Host(kafka, prefix, group, forward: false, target: target);
        await scheduling.StartAsync();
        await consuming.StartAsync();
        var forwarders = new List<IHost>();
        var stopped = new List<IHost>();
        for (var i = 0; i < 2; i++)
        {
            forwarders.Add(await StartForwarderAsync(kafka, prefix, group));
        }

        // Schedule concurrently, 500 at a time, delays from 300 ms to 8 s over 500 keys.
        var scheduler = scheduling.Services.GetRequiredService<IMessageScheduler<string, string>>();
        var due = new ConcurrentDictionary<string, DateTimeOffset>();
        var scheduledAt = new ConcurrentDictionary<string, DateTimeOffset>();
        var delays = Enumerable.Range(0, Records).Select(_ => TimeSpan.FromMilliseconds(random.Next(300, 8_000))).ToList();
        // After each batch, about 5% of its messages due at least 3 s later are cancelled; a Cancelled answer is a promise.
        var cancelled = new ConcurrentBag<string>();
        var scheduleAll = Task.Run(async () =>
        {
            for (var batch = 0; batch < Records; batch += 500)
            {
                var results = await Task.WhenAll(Enumerable.Range(batch, Math.Min(500, Records - batch))
                    .Select(i => scheduler.ScheduleAsync(target, $"k{i % 500}", $"m{i}", delays[i])));
                foreach (var result in results)
                {
                    due[result.ScheduleId] = result.DueAt;
                }

                var now = DateTimeOffset.UtcNow;
                var cancelling = results.Where(r => r.DueAt > now.AddSeconds(3)).Where((_, i) => i % 20 == 0).ToList();
                var answers = await Task.WhenAll(cancelling.Select(r => scheduler.CancelAsync(r.ScheduleId)));
                cancelling.Zip(answers).Where(c => c.Second == ScheduleCancellation.Cancelled).ToList().ForEach(c => cancelled.Add(c.First.ScheduleId));
            }
        });

        // Faults while messages flow: a forwarder killed (no Close), one joins, one leaves gracefully.
        var faults = 0;
        for (var i = 0; i < 8; i++)
        {
            await Task.Delay(random.Next(600, 1_200));
            faults++;
            var kind = forwarders.Count <= 1 ? 1 : random.Next(3);
            switch (kind)
            {
                case 0:
                    var victim = forwarders[random.Next(forwarders.Count)];
                    Note($"fault {faults}: a forwarder is killed without Close");
                    await Forwarder(victim).CrashAsync();
                    forwarders.Remove(victim);
                    stopped.Add(victim);
                    break;
                case 1:
                    Note($"fault {faults}: a forwarder joins");
                    forwarders.Add(await StartForwarderAsync(kafka, prefix, group));
                    break;
                default:
                    var leaving = forwarders[random.Next(forwarders.Count)];
                    Note($"fault {faults}: a forwarder leaves gracefully");
                    await leaving.StopAsync();
                    forwarders.Remove(leaving);
                    stopped.Add(leaving);
                    break;
            }
        }

        await scheduleAll;
        Note($"{due.Count} messages scheduled");

        Note($"{cancelled.Count} cancelled");
        var expected = due.Keys.Except(cancelled).ToHashSet();
        var deadline = Stopwatch.StartNew();
        while (!expected.All(_received.ContainsKey) && deadline.Elapsed < TimeSpan.FromMinutes(2))
        {
            await Task.Delay(200);
        }

        var last = due.Values.Max();
        var wait = last - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(2);
        await Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.FromSeconds(2)); // room for a cancelled or repeated one to show
        Note("all expected messages delivered, or the deadline passed");

        foreach (var host in forwarders)
        {
            await host.StopAsync();
        }

        await consuming.StopAsync();
        await scheduling.StopAsync();
        forwarders.Concat(stopped).ToList().ForEach(h => h.Dispose());

        var lost = expected.Count(id => !_received.ContainsKey(id));
        var early = _received.Count(r => due.TryGetValue(r.Key, out var d) && r.Value < d);
        var duplicates = _effects.Count(e => e.Value > 1);
        var cancelledDelivered = cancelled.Count(_received.ContainsKey);
        var lateness = _received.Where(r => due.ContainsKey(r.Key)).Select(r => (r.Value - due[r.Key]).TotalMilliseconds).Order().ToList();
        var p99 = lateness.Count == 0 ? 0 : lateness[(int)(lateness.Count * 0.99)];
        var line = $"fault scenario=delay-churn seed={seed} records={Records} faults={faults} cancelled={cancelled.Count} lost={lost} early={early} " +
            $"dup_effects={duplicates} cancelled_delivered={cancelledDelivered} lateness_p99_ms={p99:F0}";
        FaultRun.WriteReport(line);
        output.WriteLine(line);
        (lost + early + duplicates + cancelledDelivered).Should().Be(0, $"{line}\nseed {seed} (replay: {FaultRun.SeedVariable}={seed} ./build.sh faults)\nschedule:\n{string.Join('\n', _schedule)}");
    }

    private static ConsumerEngine Forwarder(IHost host) =>
        host.Services.GetServices<IHostedService>().OfType<IReliableConsumerService>().Single(s => s.Name == "reliablekafka-delay-forwarder").Engine!;

    private async Task<IHost> StartForwarderAsync(TestKafka kafka, string prefix, string group)
    {
        var host = Host(kafka, prefix, group, forward: true, target: null);
        await host.StartAsync();
        return host;
    }

    /// <summary>A host that schedules (and forwards when <paramref name="forward"/>), and consumes <paramref name="target"/> idempotently when given.</summary>
    private IHost Host(TestKafka kafka, string prefix, string group, bool forward, string? target) =>
        TestHost.Build(new FaultRun.QuietOutput(output), services =>
        {
            var builder = services.AddReliableKafka(o =>
                {
                    o.BootstrapServers = kafka.BootstrapServers;
                    TestHost.FastReconnect(o);
                })
                .AddDelayedDelivery(o =>
                {
                    o.TopicPrefix = prefix;
                    o.Tiers.AddRange(Tiers);
                    o.Forward = forward;
                    o.Forwarder.GroupId = group;
                    TestHost.FastGroup(o.Forwarder);
                    o.Forwarder.FetchWaitMax = TimeSpan.FromMilliseconds(20);
                });
            if (target is not null)
            {
                services.AddSingleton(this);
                builder.AddConsumer<string, string, Recorder>("target", o =>
                    {
                        o.GroupId = prefix + "-target";
                        o.Topics.Add(target);
                        o.MaxConcurrency = 64;
                        TestHost.FastGroup(o);
                        o.FetchWaitMax = TimeSpan.FromMilliseconds(20);
                    })
                    .UseInMemoryDeduplication();
            }
        });

    private void Note(string text)
    {
        var line = $"{_clock.Elapsed.TotalSeconds,8:F3}s {text}";
        lock (_schedule)
        {
            _schedule.Add(line);
        }

        output.WriteLine(line);
    }

    /// <summary>The target's handler: records the side effect of each delivered message.</summary>
    private sealed class Recorder(DelayFaultScenarioTests scenario) : IMessageHandler<string, string>
    {
        public Task HandleAsync(MessageContext<string, string> context, CancellationToken cancellationToken)
        {
            var id = context.MessageId ?? $"no-id:{context.Value}";
            scenario._received.TryAdd(id, DateTimeOffset.UtcNow);
            scenario._effects.AddOrUpdate(id, 1, (_, n) => n + 1);
            return Task.CompletedTask;
        }
    }
}
