using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.IntegrationTests.Infrastructure;
using ReliableKafka.Offsets.Internal;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Consuming;

/// <summary>The key-ordered parallel engine on the embedded cluster: throughput of work, crashes and membership changes.</summary>
public sealed class ConsumerEngineTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestKafka _kafka = TestKafka.Start();

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task KeyMode_TwentyThousandRecordsWithRandomDelays_EachHandledOnceInKeyOrderAndCommittedToTheEnd()
    {
        var topic = _kafka.CreateTopic("engine", 8);
        var group = TestKafka.Unique("group");
        var ends = await ProduceAsync(topic, records: 20_000, keys: 200, partitions: 8);
        var probe = new HandlerProbe { Behavior = (context, token) => Task.Delay(Random.Shared.Next(0, 3), token) };
        using var host = BuildHost(topic, group, probe, o => o.MaxConcurrency = 64);

        await host.StartAsync();
        await Eventually.UntilAsync(() => probe.Handled.Count >= 20_000, "all 20,000 records are handled", TimeSpan.FromMinutes(2));
        await host.StopAsync();

        var handled = probe.Handled.ToList();
        handled.Select(r => (r.Partition, r.Offset)).Should().OnlyHaveUniqueItems("every record is handled once").And.HaveCount(20_000);
        foreach (var key in handled.GroupBy(r => r.Key))
        {
            key.Select(r => int.Parse(r.Value, CultureInfo.InvariantCulture)).Should().BeInAscendingOrder($"key {key.Key} is handled in production order");
        }

        probe.MaxConcurrentPerKey.Should().Be(1);
        probe.MaxRunning.Should().BeGreaterThan(8, "different keys run at the same time, beyond one per partition");
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 8).Should().BeEquivalentTo(ends);
    }

    [Fact]
    public async Task Crash_LaterKeysFinishedAheadOfASlowOne_TheNewMemberHandlesOnlyWhatWasUnfinished()
    {
        var topic = _kafka.CreateTopic("finished-ahead", 1);
        var group = TestKafka.Unique("group");
        using (var producer = KafkaClients.Producer(_kafka.BootstrapServers))
        {
            for (var i = 0; i < 10; i++)
            {
                await producer.ProduceAsync(topic, new Message<string, string> { Key = i == 0 ? "slow" : $"fast-{i}", Value = i.ToString(CultureInfo.InvariantCulture) });
            }
        }

        var first = new HandlerProbe
        {
            Behavior = (context, token) => context.Offset.Value == 0 ? Task.Delay(Timeout.Infinite, token) : Task.CompletedTask,
        };
        using var firstHost = BuildHost(topic, group, first, o => o.CommitInterval = TimeSpan.FromMilliseconds(100));
        await firstHost.StartAsync();
        await Eventually.UntilAsync(() => first.Handled.Count == 9, "the nine fast records finish while the slow one runs");
        await Eventually.UntilAsync(
            () => ReadCommitted(group, topic) is { Offset: 0, Metadata: { } metadata } && OffsetGapCodec.TryDecode(metadata, out _, out var finished, out _) && finished.Length == 9,
            "offset 0 is committed with the nine finished records in its metadata");

        var engine = await Eventually.UntilAsync(() => firstHost.Services.GetServices<IHostedService>().OfType<IReliableConsumerService>().Single().Engine, "the engine runs");
        await engine.CrashAsync();
        var second = new HandlerProbe();
        using var secondHost = BuildHost(topic, group, second);
        await secondHost.StartAsync();
        await Eventually.UntilAsync(() => second.Handled.Count == 1, "the new member handles the unfinished record");
        await Task.Delay(TimeSpan.FromSeconds(1));
        await secondHost.StopAsync();
        await firstHost.StopAsync();

        first.Handled.Select(r => r.Offset).Order().Should().Equal(1, 2, 3, 4, 5, 6, 7, 8, 9);
        second.Handled.Select(r => r.Offset).Should().Equal([0], "records that finished before the crash are not handled again");
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0].Should().Be(10);
    }

    [Fact]
    public async Task MembersJoiningAndLeaving_NothingIsLostAndEachKeysFirstHandlingsFollowProductionOrder()
    {
        var topic = _kafka.CreateTopic("churn", 8);
        var group = TestKafka.Unique("group");
        await ProduceAsync(topic, records: 6000, keys: 100, partitions: 8);
        var probe = new HandlerProbe { Behavior = (_, token) => Task.Delay(1, token) };
        var hosts = new List<IHost>();
        var logs = new LogCapture();

        // Graceful changes only. A session that expires on an overloaded machine leaves a zombie member handling
        // records concurrently with their new owner, which can break first-handling order (the output then shows
        // it; the fault-injection suite covers zombies), so the session is twice the fast one. It is not longer
        // because every rebalance on the embedded cluster takes about as long as the session.
        async Task<IHost> JoinAsync()
        {
            var host = BuildHost(
                topic,
                group,
                probe,
                o =>
                {
                    o.CommitInterval = TimeSpan.FromMilliseconds(200);
                    o.SessionTimeout = TimeSpan.FromSeconds(6);
                },
                logs);
            await host.StartAsync();
            hosts.Add(host);
            return host;
        }

        var a = await JoinAsync();
        await Eventually.UntilAsync(() => probe.Handled.Count >= 800, "the first member is under way");
        var b = await JoinAsync();
        await Eventually.UntilAsync(() => probe.Handled.Count >= 2000, "two members share the work");
        await JoinAsync();
        await Eventually.UntilAsync(() => probe.Handled.Count >= 3000, "three members share the work");
        await a.StopAsync();
        await Eventually.UntilAsync(() => probe.Handled.Count >= 4000, "two members are left");
        await b.StopAsync();
        await Eventually.UntilAsync(
            () => probe.Handled.Select(r => (r.Partition, r.Offset)).Distinct().Count() == 6000,
            "every record is handled by the member that is left",
            TimeSpan.FromMinutes(2));

        // A member that left without committing its last records leaves them to the remaining one, which handles them
        // again: "every record handled once" can come before it caught up, so wait for its commits to reach the end.
        await Eventually.UntilAsync(
            () => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 8).Values.Sum() == 6000,
            "the member that is left commits every partition to its end",
            TimeSpan.FromMinutes(2));
        foreach (var host in hosts)
        {
            await host.StopAsync();
            host.Dispose();
        }

        var handled = probe.Handled.ToList();
        output.WriteLine($"handled {handled.Count} times for 6000 records ({handled.Count - 6000} again after rebalances); sessions expired: {logs.Entries.Count(e => e.EventId == 2005)}");
        var firstTimes = handled.DistinctBy(r => (r.Partition, r.Offset)).ToList();
        firstTimes.Should().HaveCount(6000, "no record is lost");
        foreach (var key in firstTimes.GroupBy(r => r.Key))
        {
            key.Select(r => int.Parse(r.Value, CultureInfo.InvariantCulture)).Should().BeInAscendingOrder($"key {key.Key}'s first handlings follow production order");
        }

        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 8).Values.Sum().Should().Be(6000);
    }

    private CommittedOffset? ReadCommitted(string group, string topic)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = _kafka.BootstrapServers, GroupId = group })
            .SetLogHandler(KafkaClients.Ignore).Build();
        return NativeGroupOffsetStore.Instance.ReadCommitted(consumer, [new TopicPartition(topic, 0)], TimeSpan.FromSeconds(10)).Single();
    }

    private IHost BuildHost(string topic, string group, HandlerProbe probe, Action<ConsumerOptions>? configure = null, LogCapture? logs = null) =>
        TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, probe, configure, logs: logs);

    /// <summary>Produces records over keys (values are the sequence number); returns each partition's end offset.</summary>
    private async Task<Dictionary<int, long>> ProduceAsync(string topic, int records, int keys, int partitions)
    {
        using var producer = KafkaClients.Producer(_kafka.BootstrapServers, c => c.LingerMs = 5);
        var sends = new List<Task<DeliveryResult<string, string>>>(records);
        for (var i = 0; i < records; i++)
        {
            sends.Add(producer.ProduceAsync(topic, new Message<string, string> { Key = $"key-{i % keys}", Value = i.ToString(CultureInfo.InvariantCulture) }));
        }

        var results = await Task.WhenAll(sends);
        return Enumerable.Range(0, partitions).ToDictionary(
            p => p,
            p => results.Where(r => r.Partition.Value == p).Select(r => r.Offset.Value + 1).DefaultIfEmpty(Offset.Unset.Value).Max());
    }
}
