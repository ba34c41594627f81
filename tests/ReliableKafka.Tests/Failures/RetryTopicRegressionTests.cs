using System.Collections.Concurrent;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Failures.Internal.Retry;
using ReliableKafka.Tests.Consuming;

namespace ReliableKafka.Tests.Failures;

/// <summary>Retry topics and key parking on the fake cluster: interleavings found by reviews, each one fixed.</summary>
public sealed class RetryTopicRegressionTests
{
    private static readonly TopicPartition P0 = new("orders", 0);
    private static readonly TimeSpan Backoff = TimeSpan.FromMinutes(10);
    private static readonly TopicPartition Q0 = new(RetryTopicOptions.TopicFor("g", "orders", Backoff), 0);

    /// <summary>
    /// A key restored from the previous owner's metadata cannot be parked again by handling records again (the record that
    /// parked it lies before the committed offset), so it always goes back into the metadata, even beyond the bound; only
    /// this owner's own keys are left out (and pin the commit). Otherwise the next owner would lose it, and the key's later
    /// records would overtake its copies.
    /// </summary>
    [Fact]
    public async Task KeysRestoredFromThePreviousOwner_AlwaysGoBackIntoTheMetadata_SoTheNextOwnerKeepsThemParked()
    {
        // kA sorts after kB by hash (the tie-break of ParkedKeys.Oldest).
        var names = Enumerable.Range(0, 1000).Select(i => $"k{i}").ToList();
        var kA = names.First(n => ParkedKeys.HashOf(Encoding.UTF8.GetBytes(n)) > ulong.MaxValue / 2);
        var kB = names.First(n => ParkedKeys.HashOf(Encoding.UTF8.GetBytes(n)) < ulong.MaxValue / 2);
        var hashA = ParkedKeys.HashOf(Encoding.UTF8.GetBytes(kA));

        var kafka = new FakeKafka();
        var handled = new ConcurrentQueue<(string Topic, long Offset, string Key)>();
        var handler = new ScriptedHandler(kafka, (record, _) =>
        {
            var key = Encoding.UTF8.GetString(record.Message.Key!);
            if (record.Topic == "orders" && key == kB)
            {
                throw new TimeoutException("down");
            }

            handled.Enqueue((record.Topic, record.Offset.Value, key));
            return Task.CompletedTask;
        });
        var (engine, writer) = Engine(kafka, handler, Options(metadataKeys: 1));

        // The previous owner sent kA's record at 0 to the retry topic (still there: its release was never written),
        // parked kA, and committed 1 with kA in the metadata.
        var previous = new PartitionState(P0, OrderingMode.Key, _ => { });
        previous.Parked.Park(hashA, 0, DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeMilliseconds());
        kafka.AddRecords(P0, 3, key: i => i switch { 0 => kA, 1 => kB, _ => "kC" });
        kafka.AddRecords(Q0, 0);
        kafka.SetCommitted(P0, 1, "rk1:" + ParkedKeys.MetadataSeparator + previous.Parked.Encode().Text);

        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(stop.Token);
        kafka.Assign(P0);

        // kB's record at 1 fails and parks kB (PinAt 1 = kA's restored PinAt): two keys, one fits.
        await Until(() => engine.Status().ParkedKeys == 2 && handled.Any(h => h.Offset == 2), TimeSpan.FromSeconds(10));
        await Task.Delay(500); // a few interval commits
        kafka.Revoke(P0);
        await Until(() => kafka.Timeline.Contains("revoke end 0"), TimeSpan.FromSeconds(10));

        var metadata = kafka.CommittedMetadata(P0)!;
        var committedAtRevoke = kafka.Committed(P0);
        ParkedKeys.TryDecode(CommitMetadata.Split(metadata).Parked!, out var kept).Should().BeTrue();

        // The next owner: a new record of kA arrives.
        kafka.AddRecords(P0, 1, key: _ => kA);
        kafka.Assign(P0);
        await Until(() => handled.Any(h => h.Offset == 3) || writer.Sent.Any(s => s.Message.Key is { } k && Encoding.UTF8.GetString(k) == kA), TimeSpan.FromSeconds(10));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        handled.Should().NotContain(h => h.Topic == "orders" && h.Offset == 3, $"kA's record at 3 must follow its copy at 0, not overtake it (first owner committed {committedAtRevoke} with metadata {metadata})");
        kept.Select(k => k.Hash).Should().Contain(hashA, "kA is still parked (its copy is unresolved)");
    }

    /// <summary>
    /// The keys that go into the metadata and the pin of those left out are taken at one moment: a release on the parking
    /// reader's thread in between must not leave a key neither in the metadata nor pinning the commit.
    /// </summary>
    [Fact]
    public async Task EveryParkedKey_IsInTheMetadataOrPinsTheCommit_WhateverReleasesHappenMeanwhile()
    {
        var options = Options(metadataKeys: 1);
        var config = KafkaClientConfigBuilder.BuildConsumer(new ReliableKafkaOptions { BootstrapServers = "fake:9092" }, "test", options).ThrowIfInvalid();
        var context = new EngineContext(config, options, NullLoggerFactory.Instance, TimeProvider.System);
        var metadata = new CommitMetadata(context);
        var state = new PartitionState(P0, OrderingMode.Key, _ => { });
        const ulong X = 1, Y = 2;
        state.Parked.Park(X, 10, 0); // kept (oldest)
        state.Parked.Park(Y, 20, 0); // left out: pins at 20

        var violations = 0;
        using var done = new CancellationTokenSource();
        var releaser = Task.Run(() =>
        {
            // The parking reader: X is released and parked again (a later incident of the same key), over and over.
            while (!done.IsCancellationRequested)
            {
                state.Parked.Release(X, 10);
                state.Parked.Park(X, 10, 0);
            }
        });

        for (var i = 0; i < 2_000_000 && violations == 0; i++)
        {
            var (offset, text) = metadata.Encode(state, watermark: 100, finished: []);
            var parked = text is null ? null : CommitMetadata.Split(text).Parked;
            var keys = parked is not null && ParkedKeys.TryDecode(parked, out var decoded) ? decoded.Select(k => k.Hash).ToList() : [];
            if (!keys.Contains(Y) && offset > 20)
            {
                violations++;
            }
        }

        done.Cancel();
        await releaser;
        violations.Should().Be(0, "Y (parked at 20) must be in the metadata or pin the commit at 20");
    }

    /// <summary>
    /// A follower that fails in the last retry topic waits its last backoff in place; a revocation must not wait for that
    /// (it would hold every rebalance and graceful stop for the whole RevocationTimeout): the record is left unfinished at once.
    /// </summary>
    [Fact]
    public async Task InPlaceWaitAtTheLastLevel_EndsWhenThePartitionIsRevoked()
    {
        var kafka = new FakeKafka();
        var handler = new ScriptedHandler(kafka, (record, _) => record.Topic == Q0.Topic ? throw new TimeoutException("down") : Task.CompletedTask);
        var options = Options(metadataKeys: 32);
        options.RevocationTimeout = TimeSpan.FromSeconds(5);
        var (engine, _) = Engine(kafka, handler, options);

        // A follower's copy in the last (here: only) retry topic: count 0, due now.
        kafka.AddRecords(Q0, 1, key: _ => "k1");
        var headers = new Headers
        {
            { ReliableKafkaHeaders.RetryOriginalTopic, Encoding.UTF8.GetBytes("orders") },
            { ReliableKafkaHeaders.RetryOriginalPartition, Encoding.UTF8.GetBytes("0") },
            { ReliableKafkaHeaders.RetryOriginalOffset, Encoding.UTF8.GetBytes("7") },
            { ReliableKafkaHeaders.RetryOriginalTimestamp, Encoding.UTF8.GetBytes("0") },
            { ReliableKafkaHeaders.RetryCount, Encoding.UTF8.GetBytes("0") },
            { ReliableKafkaHeaders.RetryNotBefore, Encoding.UTF8.GetBytes(DateTimeOffset.UtcNow.AddSeconds(-1).ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture)) },
        };
        kafka.SetHeaders(Q0, 0, headers);
        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(stop.Token);
        kafka.Assign(Q0);
        await Until(() => !handler.Started.IsEmpty, TimeSpan.FromSeconds(5));
        await Task.Delay(200); // now in its in-place wait (10 min)

        var watch = System.Diagnostics.Stopwatch.StartNew();
        kafka.Revoke(Q0);
        await Until(() => kafka.Timeline.Contains("revoke end 0"), TimeSpan.FromSeconds(15));
        watch.Stop();
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(2), "a record waiting in place (not running its handler) should give up at once when its partition is let go");
    }

    /// <summary>Parking and releasing stay cheap when far more keys are parked than the metadata holds (the order is only needed by Encode).</summary>
    [Fact]
    public void ParkingManyKeysBeyondTheMetadataBound_StaysCheap()
    {
        var parked = new ParkedKeys { MetadataKeys = 32 };
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 20_000; i++)
        {
            parked.Park((ulong)i + 1, i, 0);
        }

        watch.Stop();
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(1), "an outage that fails 20 000 keys of a partition");
    }

    /// <summary>
    /// A deduplicating consumer whose record is still claimed by another owner (a previous owner's handler that outlived its
    /// revocation) fails with DeduplicationClaimTimeoutException before any attempt ran: a passing failure, so the record goes
    /// to the retry topic (and its key parks), not straight to the dead-letter topic while the other owner may still complete it.
    /// </summary>
    [Fact]
    public async Task ClaimHeldElsewhere_GoesToTheRetryTopic_NotStraightToTheDeadLetterTopic()
    {
        var kafka = new FakeKafka();
        var handler = new ScriptedHandler(kafka, (_, _) => Task.CompletedTask);
        var options = Options(metadataKeys: 32);
        options.Deduplication.Enabled = true;
        options.Deduplication.ClaimWaitTimeout = TimeSpan.FromMilliseconds(200);
        var store = new ReliableKafka.Deduplication.InMemoryDeduplicationStore();
        var writer = new FakeDeadLetterWriter();
        var levels = new RetryLevels(options.GroupId!, options.Topics, options.RetryTopic.EffectiveBackoffs);
        var dedup = new ReliableKafka.Deduplication.Internal.Deduplicator(store, options.Deduplication, "test", "g", NullLogger.Instance, TimeProvider.System, levels);
        var engine = RetryEngine.Create(kafka, handler, options, writer, dedup);
        kafka.AddRecords(P0, 1, key: _ => "k1");

        // Another owner holds the record's claim (its delivery: orders/0@0/<timestamp 0 = Unix epoch in the fake>).
        var key = new ReliableKafka.Deduplication.DeduplicationKey("g", "orders/0@0/0");
        (await store.ClaimAsync(key, Guid.NewGuid(), TimeSpan.FromMinutes(5))).Status.Should().Be(ReliableKafka.Deduplication.ClaimStatus.Claimed);

        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(stop.Token);
        kafka.Assign(P0);
        await Until(() => !writer.Written.IsEmpty || !writer.Sent.IsEmpty, TimeSpan.FromSeconds(5));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        writer.Written.Should().BeEmpty("a claim held elsewhere is a transient failure: the record should go to the retry topic");
        writer.Sent.Should().ContainSingle(s => s.Destination.Topic == Q0.Topic);
    }

    /// <summary>
    /// A key is released only by a release at or beyond its last record sent on, and each record that follows moves that
    /// mark. Under Partition ordering the whole partition is one key: without draining (records wait briefly for the release
    /// once an earlier record of the key is done), a partition that keeps getting records would never be released, and its
    /// throughput would drop to one record per produce round trip.
    /// </summary>
    [Fact]
    public async Task PartitionOrdering_OneTransientFailure_UnderSteadyInflow_TheParkedPartitionIsReleased()
    {
        var kafka = new FakeKafka();
        var failed = 0;
        var inPlace = 0;
        var handler = new ScriptedHandler(kafka, (record, _) =>
        {
            if (record.Topic == "orders" && Interlocked.Exchange(ref failed, 1) == 0)
            {
                throw new TimeoutException("once");
            }

            if (record.Topic == "orders")
            {
                Interlocked.Increment(ref inPlace);
            }

            return Task.CompletedTask;
        });
        var options = Options(metadataKeys: 32);
        options.OrderingMode = OrderingMode.Partition;
        options.RetryTopic.Backoffs.Clear();
        options.RetryTopic.Backoffs.Add(TimeSpan.FromMilliseconds(100));
        var q0 = new TopicPartition(RetryTopicOptions.TopicFor("g", "orders", TimeSpan.FromMilliseconds(100)), 0);
        var writer = new SlowRetryWriter(kafka, q0, TimeSpan.FromMilliseconds(5)); // an acks=all round trip
        var engine = RetryEngine.Create(kafka, handler, options, writer);
        kafka.AddRecords(P0, 1, key: _ => "k");
        kafka.AddRecords(q0, 0);

        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(stop.Token);
        kafka.Assign(P0, q0);

        // Records arrive at about 300/s for 4 s (the handler itself is instant).
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(4))
        {
            kafka.AddRecords(P0, 1, key: _ => "k");
            await Task.Delay(3);
        }

        var parked = engine.Status().ParkedKeys;
        var handledInPlace = Volatile.Read(ref inPlace);
        var lag = kafka.EndOffset(P0) - (kafka.Committed(P0) ?? 0);
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        handledInPlace.Should().BeGreaterThan(0, $"the failed record was handled on its first retry, 100 ms in; still parked: {parked}, copies sent: {writer.Copies}, lag: {lag}");
    }

    /// <summary>Writes retry copies into the fake cluster's retry partition after a produce round trip.</summary>
    private sealed class SlowRetryWriter(FakeKafka kafka, TopicPartition retry, TimeSpan latency) : ReliableKafka.Failures.Internal.IDeadLetterWriter
    {
        private readonly object _gate = new();
        private int _copies;

        public int Copies => Volatile.Read(ref _copies);

        public Task<TopicPartitionOffset> WriteAsync(ConsumeResult<byte[]?, byte[]?> record, Exception error, int attempts, CancellationToken cancellationToken) =>
            Task.FromResult(new TopicPartitionOffset("orders.dlt", 0, 0));

        public Task<bool> ContainsAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken) => Task.FromResult(false);

        public async Task<TopicPartitionOffset> SendAsync(TopicPartition destination, Message<byte[]?, byte[]?> message, CancellationToken cancellationToken)
        {
            await Task.Delay(latency, cancellationToken);
            if (destination.Topic != retry.Topic)
            {
                return new TopicPartitionOffset(destination.Topic, 0, 0);
            }

            Interlocked.Increment(ref _copies);
            lock (_gate)
            {
                var offset = kafka.EndOffset(retry);
                kafka.SetHeaders(retry, offset, message.Headers ?? []);
                kafka.AddRecords(retry, 1, _ => message.Key is null ? null : Encoding.UTF8.GetString(message.Key));
                return new TopicPartitionOffset(retry, offset);
            }
        }

        public Task<int> PartitionCountAsync(string topic, bool refresh, CancellationToken cancellationToken) => Task.FromResult(1);

        public void Dispose()
        {
        }
    }

    private static ConsumerOptions Options(int metadataKeys) => RetryEngine.Options(metadataKeys, Backoff);

    private static (ConsumerEngine Engine, FakeDeadLetterWriter Writer) Engine(FakeKafka kafka, ScriptedHandler handler, ConsumerOptions options)
    {
        var writer = new FakeDeadLetterWriter();
        return (RetryEngine.Create(kafka, handler, options, writer), writer);
    }

    private static Task Until(Func<bool> condition, TimeSpan timeout) => RetryEngine.Until(condition, timeout);
}
