using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.IntegrationTests.Infrastructure;
using ReliableKafka.TestSupport;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Failures;

/// <summary>FailurePolicy.RetryTopic on the embedded cluster: non-blocking retries, key parking, the ladder's end, crashes and rebalances.</summary>
public sealed class RetryTopicTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan[] Backoffs = [TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1)];

    private readonly TestKafka _kafka = TestKafka.Start();
    private readonly HandlerProbe _probe = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    // Successful handlings: the record's value and when (ms since the test started).
    private readonly ConcurrentQueue<(string Value, long At)> _succeeded = new();

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task KeyFailsTwiceThenSucceeds_ItsRecordsAreHandledInTheirOrderAndOtherKeysDoNotWaitForIt()
    {
        var (topic, group) = CreateTopics("flaky", partitions: 2);
        var failures = 0;
        Behave(value => value == "a-2" && Interlocked.Increment(ref failures) <= 2);
        await ProduceAsync(topic, ("a", 10), ("b", 10), ("c", 10), ("d", 10));
        using var retriedCount = new CounterProbe("reliablekafka.consumer.retried", group);
        using var followers = new CounterProbe("reliablekafka.consumer.parked_followers", group);
        using var parkedKeys = new GaugeProbe("reliablekafka.consumer.parked_keys", group);
        using var host = BuildHost(topic, group);

        await host.StartAsync();
        await Eventually.UntilAsync(() => parkedKeys.Read() >= 1, "the gauge shows the parked key while it waits");
        await Eventually.UntilAsync(() => _succeeded.Count >= 40, "every record is handled", TimeSpan.FromSeconds(30));
        await Task.Delay(500); // nothing more comes
        await host.StopAsync();

        var handled = _succeeded.ToList();
        handled.Select(h => h.Value).Should().OnlyHaveUniqueItems("each record is handled once");
        ValuesOf(handled, "a").Should().Equal(Enumerable.Range(0, 10).Select(i => $"a-{i}"), "the key's records keep their order around the retried one");
        foreach (var other in new[] { "b", "c", "d" })
        {
            ValuesOf(handled, other).Should().Equal(Enumerable.Range(0, 10).Select(i => $"{other}-{i}"));
        }

        var retried = handled.Single(h => h.Value == "a-2").At;
        handled.Where(h => !h.Value.StartsWith("a-", StringComparison.Ordinal)).Max(h => h.At)
            .Should().BeLessThan(retried - 1000, "other keys finish while the failed record waits its backoffs (0.5 s, then 1 s)");
        failures.Should().Be(3, "it failed in its topic and in the first retry topic, and succeeded in the second");
        var firstRetries = KafkaClients.ReadAll(_kafka.BootstrapServers, RetryTopicOptions.TopicFor(group, topic, TimeSpan.FromMilliseconds(500)), 8);
        firstRetries.Select(r => r.Message.Value).Should().Equal(Enumerable.Range(2, 8).Select(i => $"a-{i}"), "a-2 went to retry, and the key's later records followed it");
        Header(firstRetries[0], ReliableKafkaHeaders.RetryCount).Should().Be("1");
        Header(firstRetries[0], ReliableKafkaHeaders.RetryFirstExceptionType).Should().Be(typeof(TimeoutException).FullName);
        Header(firstRetries[0], ReliableKafkaHeaders.RetryOriginalTopic).Should().Be(topic);
        Header(firstRetries[1], ReliableKafkaHeaders.RetryCount).Should().Be("0", "a follower did not fail");
        var secondRetries = KafkaClients.ReadAll(_kafka.BootstrapServers, RetryTopicOptions.TopicFor(group, topic, TimeSpan.FromMilliseconds(1000)), 8);
        Header(secondRetries[0], ReliableKafkaHeaders.RetryCount).Should().Be("2");
        Header(secondRetries[0], ReliableKafkaHeaders.RetryFirstFailedAt).Should().Be(Header(firstRetries[0], ReliableKafkaHeaders.RetryFirstFailedAt), "the first failure's diagnostics are kept, not appended");
        secondRetries[0].Message.Headers.Count(h => h.Key == ReliableKafkaHeaders.RetryCount).Should().Be(1);
        KafkaClients.ReadAll(_kafka.BootstrapServers, topic + ".dlt", 1, TimeSpan.FromSeconds(1)).Should().BeEmpty();
        await Eventually.UntilAsync(
            () => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2).Values.Sum() == 40,
            "the source topic is committed to its end");
        retriedCount.Total.Should().Be(2, "a-2 went to each retry topic once");
        followers.Total.Should().Be(14, "a-3 to a-9 followed it into both retry topics");
    }

    [Fact]
    public async Task PoisonRecord_EndsInTheDeadLetterTopicAfterTheLadderAndItsKeyThenGoesOnInOrder()
    {
        var (topic, group) = CreateTopics("poison", partitions: 1);
        Behave(value => value == "a-3");
        var produced = await ProduceAsync(topic, ("a", 8), ("b", 8));
        using var host = BuildHost(topic, group);

        await host.StartAsync();
        await Eventually.UntilAsync(() => _succeeded.Count >= 15, "every other record is handled", TimeSpan.FromSeconds(30));
        var dead = KafkaClients.ReadAll(_kafka.BootstrapServers, topic + ".dlt", 1);
        await Task.Delay(500);
        await host.StopAsync();

        var handled = _succeeded.ToList();
        ValuesOf(handled, "a").Should().Equal(new[] { 0, 1, 2, 4, 5, 6, 7 }.Select(i => $"a-{i}"), "its key goes on in order once it is dead-lettered");
        ValuesOf(handled, "b").Should().Equal(Enumerable.Range(0, 8).Select(i => $"b-{i}"));
        var poison = produced.Single(p => p.Message.Value == "a-3");
        dead.Should().ContainSingle().Which.Message.Value.Should().Be("a-3");
        Header(dead[0], ReliableKafkaHeaders.DeadLetterOriginalTopic).Should().Be(topic, "a retried record is dead-lettered as its source record");
        Header(dead[0], ReliableKafkaHeaders.DeadLetterOriginalOffset).Should().Be(poison.Offset.Value.ToString(CultureInfo.InvariantCulture));
        _probe.Attempts.Count(a => a.Value == "a-3").Should().Be(3, "once in its topic and once in each retry topic");
        KafkaClients.ReadAll(_kafka.BootstrapServers, topic + ".dlt", 2, TimeSpan.FromSeconds(1)).Should().HaveCount(1);
    }

    [Fact]
    public async Task AFollowerThatFailsInTheLastRetryTopic_IsRetriedThereInPlaceAndItsKeyKeepsItsOrder()
    {
        var (topic, group) = CreateTopics("last-level", partitions: 1);
        var attempts = new ConcurrentDictionary<string, int>();
        Behave(value => attempts.AddOrUpdate(value, 1, (_, n) => n + 1) <= value switch { "a-1" => 2, "a-2" => 1, _ => 0 });
        await ProduceAsync(topic, ("a", 4));
        using var host = BuildHost(topic, group);

        await host.StartAsync();
        await Eventually.UntilAsync(() => _succeeded.Count == 4, "every record is handled", TimeSpan.FromSeconds(30));
        await Task.Delay(500);
        await host.StopAsync();

        // a-1 fails in its topic and the first retry topic, and succeeds in the last one; a-2 followed it there and fails
        // for the first time: it has retries left, so it is retried in place after the last backoff (a-3 waits behind
        // it), not dead-lettered.
        ValuesOf(_succeeded.ToList(), "a").Should().Equal("a-0", "a-1", "a-2", "a-3");
        attempts["a-2"].Should().Be(2);
        KafkaClients.ReadAll(_kafka.BootstrapServers, topic + ".dlt", 1, TimeSpan.FromSeconds(1)).Should().BeEmpty();
        KafkaClients.ReadAll(_kafka.BootstrapServers, RetryTopicOptions.TopicFor(group, topic, TimeSpan.FromMilliseconds(1000)), 4, TimeSpan.FromSeconds(2)).Select(r => r.Message.Value)
            .Should().Equal("a-1", "a-2", "a-3");
    }

    [Fact]
    public async Task RedrivenWhileItsKeyIsParked_ADeadLetteredRecordFollowsTheKeyThroughTheRetryTopics()
    {
        TimeSpan[] backoffs = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)];
        var (topic, group) = CreateTopics("redrive", partitions: 1, backoffs: backoffs);
        var poison = 1;
        var a6Failures = 0;
        Behave(value => (value == "a-1" && Volatile.Read(ref poison) == 1) || (value == "a-6" && Interlocked.Increment(ref a6Failures) == 1));
        await ProduceAsync(topic, ("a", 3));
        using var host = TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, _probe, o =>
        {
            o.FailurePolicy = FailurePolicy.RetryTopic;
            o.Retry.MaxAttempts = 1;
            o.RetryTopic.Backoffs.AddRange(backoffs);
        });
        await host.StartAsync();
        var dead = KafkaClients.ReadAll(_kafka.BootstrapServers, topic + ".dlt", 1, TimeSpan.FromSeconds(20));
        await Eventually.UntilAsync(() => ValuesOf(_succeeded.ToList(), "a").Count == 2, "a-2 goes on once a-1 is dead-lettered");

        // The cause is fixed; meanwhile a-6 fails once, and the key parks again (1 s) when a-1 is sent back.
        Volatile.Write(ref poison, 0);
        await ProduceAsync(topic, ("a", 2, 6));
        await Eventually.UntilAsync(() => Volatile.Read(ref a6Failures) == 1, "a-6 failed and parked its key");
        var redriven = await host.Services.GetRequiredService<IDeadLetterRedriver>().RedriveAsync(new RedriveRequest { DeadLetterTopic = topic + ".dlt" });
        await Eventually.UntilAsync(() => ValuesOf(_succeeded.ToList(), "a").Count == 5, "every record is handled", TimeSpan.FromSeconds(30));
        await host.StopAsync();

        dead.Should().ContainSingle().Which.Message.Value.Should().Be("a-1");
        redriven.Redriven.Should().Be(1);
        ValuesOf(_succeeded.ToList(), "a").Should().Equal(["a-0", "a-2", "a-6", "a-7", "a-1"], "the redriven record came back while its key was parked: it followed it, behind a-7");
        var firstRetries = KafkaClients.ReadAll(_kafka.BootstrapServers, RetryTopicOptions.TopicFor(group, topic, backoffs[0]), 5);
        var copy = firstRetries.Last();
        copy.Message.Value.Should().Be("a-1");
        Header(copy, ReliableKafkaHeaders.RetryCount).Should().Be("0", "a redriven record starts afresh (its earlier retry headers were removed)");
        Header(copy, ReliableKafkaHeaders.RetryOriginalTopic).Should().Be(topic);
        Header(copy, ReliableKafkaHeaders.RedriveCount).Should().Be("1");
    }

    [Fact]
    public async Task MemberCrashesWhileAKeyIsParked_TheNextOwnerKeepsItParkedUntilTheRetryIsDoneAndLosesNothing()
    {
        var (topic, group) = CreateTopics("crash", partitions: 1, backoffs: [TimeSpan.FromSeconds(3)]);
        var failures = 0;
        Behave(value => value == "a-1" && Interlocked.Increment(ref failures) == 1);
        await ProduceAsync(topic, ("a", 4), ("b", 4));
        using (var first = BuildHost(topic, group, backoffs: [TimeSpan.FromSeconds(3)]))
        {
            await first.StartAsync();
            await Eventually.UntilAsync(() => _succeeded.Count(s => s.Value.StartsWith("b-", StringComparison.Ordinal)) == 4, "the other key is handled");
            await Eventually.UntilAsync(
                () => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0] == 8,
                "the parked key's records went to retry (acknowledged), and a commit carried the parked key");
            await (await Engine(first)).CrashAsync();
            await first.StopAsync();
        }

        // More records of the parked key arrive while nobody owns the partition; the next owner must not handle them
        // before the record they wait for is retried.
        await ProduceAsync(topic, ("a", 4, 4));
        using var second = BuildHost(topic, group, backoffs: [TimeSpan.FromSeconds(3)]);
        await second.StartAsync();
        await Eventually.UntilAsync(() => ValuesOf(_succeeded.ToList(), "a").Distinct().Count() == 8, "every record of the key is handled", TimeSpan.FromSeconds(40));
        await Task.Delay(500);
        await second.StopAsync();

        var firstTimes = ValuesOf(_succeeded.ToList(), "a").Distinct().ToList();
        firstTimes.Should().Equal(Enumerable.Range(0, 8).Select(i => $"a-{i}"), "first handlings keep the key's order across the crash");
        failures.Should().Be(2, "a-1 failed once, then succeeded in the retry topic");
        // The records that arrived after the crash followed the parked key, or (once its earlier records were done)
        // waited for its release: either way none of them was handled before a-1 (checked above).
        KafkaClients.ReadAll(_kafka.BootstrapServers, RetryTopicOptions.TopicFor(group, topic, TimeSpan.FromMilliseconds(3000)), 3).Select(r => r.Message.Value)
            .Should().Equal("a-1", "a-2", "a-3");
    }

    [Fact]
    public async Task RebalanceWhileKeysAreParked_KeysStayParkedOnTheirNewOwnerAndOrderHolds()
    {
        var (topic, group) = CreateTopics("moving", partitions: 4, backoffs: [TimeSpan.FromSeconds(2)]);
        var failed = new ConcurrentDictionary<string, bool>();
        Behave(value => value.EndsWith("-2", StringComparison.Ordinal) && failed.TryAdd(value, true));
        var keys = Enumerable.Range(0, 8).Select(k => ($"k{k}", 6)).ToArray();
        await ProduceAsync(topic, keys);
        using var first = BuildHost(topic, group, backoffs: [TimeSpan.FromSeconds(2)]);
        await first.StartAsync();
        await Eventually.UntilAsync(() => failed.Count == 8, "each key's third record failed and its key parked");
        await ProduceAsync(topic, [.. Enumerable.Range(0, 8).Select(k => ($"k{k}", 4, 6))]);
        using var second = BuildHost(topic, group, backoffs: [TimeSpan.FromSeconds(2)]);
        await second.StartAsync(); // partitions (and retry topic partitions) move while keys are parked
        await Eventually.UntilAsync(() => _succeeded.Select(s => s.Value).Distinct().Count() == 80, "every record is handled", TimeSpan.FromSeconds(40));
        await Task.Delay(500);
        await Task.WhenAll(first.StopAsync(), second.StopAsync());

        var handled = _succeeded.ToList();
        for (var k = 0; k < 8; k++)
        {
            ValuesOf(handled, $"k{k}").Distinct().Should().Equal(Enumerable.Range(0, 10).Select(i => $"k{k}-{i}"), $"key k{k} keeps its order across the rebalance");
        }
    }

    [Fact]
    public async Task KeyOrderGoOn_LaterRecordsOfTheKeyDoNotWaitForTheRetriedOne()
    {
        var (topic, group) = CreateTopics("go-on", partitions: 1, parking: false);
        var failures = 0;
        Behave(value => value == "a-1" && Interlocked.Increment(ref failures) == 1);
        await ProduceAsync(topic, ("a", 5));
        using var host = BuildHost(topic, group, configure: o => o.RetryTopic.KeyOrder = KeyOrderOnFailure.GoOn);

        await host.StartAsync();
        await Eventually.UntilAsync(() => _succeeded.Count == 5, "every record is handled", TimeSpan.FromSeconds(20));
        await host.StopAsync();

        ValuesOf(_succeeded.ToList(), "a").Should().Equal("a-0", "a-2", "a-3", "a-4", "a-1");
        KafkaClients.ReadAll(_kafka.BootstrapServers, RetryTopicOptions.TopicFor(group, topic, TimeSpan.FromMilliseconds(500)), 2, TimeSpan.FromSeconds(1)).Should().ContainSingle("only the failed record goes to retry");
    }

    private static List<string> ValuesOf(List<(string Value, long At)> handled, string key) =>
        [.. handled.Where(h => h.Value.StartsWith(key + "-", StringComparison.Ordinal)).Select(h => h.Value)];

    private static string? Header(ConsumeResult<string, string> record, string key) =>
        record.Message.Headers.TryGetLastBytes(key, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;

    private static Task<ConsumerEngine> Engine(IHost host) =>
        Eventually.UntilAsync(
            () => host.Services.GetServices<IHostedService>().OfType<IReliableConsumerService>().Single().Engine,
            "the consumer's engine started");

    /// <summary>The handler fails (a transient exception) when <paramref name="fails"/> says so, else records its success.</summary>
    private void Behave(Func<string, bool> fails) =>
        _probe.Behavior = (context, _) =>
        {
            if (fails(context.Value))
            {
                throw new TimeoutException($"{context.Value} cannot be stored now");
            }

            _succeeded.Enqueue((context.Value, _clock.ElapsedMilliseconds));
            return Task.CompletedTask;
        };

    /// <summary>Creates a source topic, its retry topics, its dead-letter topic, and the group's parking topic.</summary>
    private (string Topic, string Group) CreateTopics(string prefix, int partitions, TimeSpan[]? backoffs = null, bool parking = true)
    {
        var topic = _kafka.CreateTopic(prefix, partitions);
        var group = TestKafka.Unique("group");
        foreach (var backoff in backoffs ?? Backoffs)
        {
            _kafka.CreateNamedTopic(RetryTopicOptions.TopicFor(group, topic, backoff), partitions);
        }

        _kafka.CreateNamedTopic(topic + ".dlt", 1);
        if (parking)
        {
            _kafka.CreateNamedTopic(group + RetryTopicOptions.DefaultParkingTopicSuffix, 2);
        }

        return (topic, group);
    }

    private IHost BuildHost(string topic, string group, TimeSpan[]? backoffs = null, Action<ConsumerOptions>? configure = null) =>
        TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, _probe, o =>
        {
            o.FailurePolicy = FailurePolicy.RetryTopic;
            o.Retry.MaxAttempts = 1;
            o.RetryTopic.Backoffs.AddRange(backoffs ?? Backoffs);
            configure?.Invoke(o);
        });

    /// <summary>Produces, for each key, records <c>key-i</c> for i from <c>from</c> (0 by default), key by key.</summary>
    private Task<List<DeliveryResult<string, string>>> ProduceAsync(string topic, params (string Key, int Count)[] keys) =>
        ProduceAsync(topic, [.. keys.Select(k => (k.Key, k.Count, 0))]);

    private async Task<List<DeliveryResult<string, string>>> ProduceAsync(string topic, params (string Key, int Count, int From)[] keys)
    {
        using var producer = KafkaClients.Producer(_kafka.BootstrapServers);
        var results = new List<DeliveryResult<string, string>>();
        foreach (var (key, count, from) in keys)
        {
            for (var i = from; i < from + count; i++)
            {
                results.Add(await producer.ProduceAsync(topic, new Message<string, string> { Key = key, Value = $"{key}-{i}" }));
            }
        }

        return results;
    }
}
