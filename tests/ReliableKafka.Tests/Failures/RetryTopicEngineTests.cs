using System.Collections.Concurrent;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Failures.Internal;
using ReliableKafka.Failures.Internal.Retry;
using ReliableKafka.Tests.Consuming;

namespace ReliableKafka.Tests.Failures;

/// <summary>FailurePolicy.RetryTopic in the engine, on the fake cluster (the retry topic is a partition of it): the bounds.</summary>
public sealed class RetryTopicEngineTests
{
    private static readonly TopicPartition P0 = new("orders", 0);
    private static readonly TimeSpan Backoff = TimeSpan.FromSeconds(1);
    private static readonly TopicPartition Q0 = new(RetryTopicOptions.TopicFor("g", "orders", Backoff), 0);

    [Theory]
    [InlineData(2)]
    [InlineData(100)]
    public async Task Outage_WithMoreFailingKeysThanTheMetadataHolds_EveryRecordIsHandledOnceItEnds(int metadataKeys)
    {
        // Ten keys fail during an outage with a buffer of 6: the keys beyond the metadata bound must not hold buffer room
        // that the retry topic's records need to release them.
        var outage = 1;
        var kafka = new FakeKafka();
        var handled = new ConcurrentQueue<string>();
        var handler = new ScriptedHandler(kafka, (record, _) =>
        {
            if (Volatile.Read(ref outage) == 1 && record.Topic == "orders")
            {
                throw new TimeoutException("down");
            }

            handled.Enqueue(Encoding.UTF8.GetString(record.Message.Value!));
            return Task.CompletedTask;
        });
        var options = Options(metadataKeys, Backoff);
        options.MaxBufferedRecords = 6;
        var (engine, writer) = Engine(kafka, handler, options);
        kafka.AddRecords(P0, 2, key: i => $"k{i % 10}");
        kafka.AddRecords(Q0, 0);
        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(stop.Token);
        kafka.Assign(P0, Q0);
        await Task.Delay(300);
        kafka.AddRecords(P0, 28, key: i => $"k{i % 10}");
        await Task.Delay(1200);
        Volatile.Write(ref outage, 0);

        await Until(() => handled.Count >= 30, TimeSpan.FromSeconds(15));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        handled.Should().HaveCount(30, "every record is handled once the outage ends");
        writer.DeadLettered.Should().BeEmpty();
    }

    [Fact]
    public async Task BrokersRefuseTheMetadataAsTooLarge_WithParkedKeys_CommitsShrinkItAndARevocationEnds()
    {
        var kafka = new FakeKafka();
        var handler = new ScriptedHandler(kafka, (record, _) => record.Topic == "orders" ? throw new TimeoutException("down") : Task.CompletedTask);
        var options = Options(32, TimeSpan.FromMinutes(10));
        var (engine, _) = Engine(kafka, handler, options);
        kafka.RefusePartition = o => o.Metadata is { Length: > 40 } ? ErrorCode.OffsetMetadataTooLarge : null;
        kafka.AddRecords(P0, 4, key: i => $"k{i}");
        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(stop.Token);
        kafka.Assign(P0);
        await Until(() => engine.Status().ParkedKeys == 4, TimeSpan.FromSeconds(5));

        kafka.Revoke(P0);
        await Until(() => kafka.Timeline.Contains("revoke end 0"), TimeSpan.FromSeconds(8));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        kafka.Timeline.Should().Contain("revoke end 0", "a commit refused as too large is retried with shorter metadata, not forever");
        kafka.Committed(P0).Should().Be(0, "the parked keys that no longer fit pin the commit at the first of them");
    }

    [Fact]
    public async Task BrokersRefuseTheMetadataAsTooLarge_WithRestoredKeys_TheCommitStaysWhereTheyWereRestoredAndARevocationEnds()
    {
        var kafka = new FakeKafka();
        var handler = new ScriptedHandler(kafka, (_, _) => Task.CompletedTask);
        var (engine, _) = Engine(kafka, handler, Options(32, TimeSpan.FromMinutes(10)));

        // The previous owner parked three keys (with a more generous metadata limit than these brokers accept now).
        var previous = new PartitionState(P0, OrderingMode.Key, _ => { });
        foreach (var key in new[] { "k1", "k2", "k3" })
        {
            previous.Parked.Park(ParkedKeys.HashOf(Encoding.UTF8.GetBytes(key)), 0, DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeMilliseconds());
        }

        kafka.AddRecords(P0, 4, key: _ => "k4");
        kafka.SetCommitted(P0, 1, "rk1:" + ParkedKeys.MetadataSeparator + previous.Parked.Encode().Text);
        kafka.RefusePartition = o => o.Metadata is { Length: > 40 } ? ErrorCode.OffsetMetadataTooLarge : null;
        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(stop.Token);
        kafka.Assign(P0);
        await Until(() => handler.Completed.Count == 3, TimeSpan.FromSeconds(5));

        kafka.Revoke(P0);
        await Until(() => kafka.Timeline.Contains("revoke end 0"), TimeSpan.FromSeconds(8));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        kafka.Timeline.Should().Contain("revoke end 0", "restored keys that do not fit are left out, not sent again forever");
        kafka.Committed(P0).Should().Be(1, "restored keys left out of the metadata pin the commit where they were restored");
    }

    [Fact]
    public async Task CommittedMetadataCannotBeReadAtAssignment_ThePartitionWaitsAndKeepsThePreviousOwnersParkedKeys()
    {
        var kafka = new FakeKafka();
        var handled = new ConcurrentQueue<(string Topic, long Offset)>();
        var handler = new ScriptedHandler(kafka, (record, _) =>
        {
            handled.Enqueue((record.Topic, record.Offset.Value));
            return Task.CompletedTask;
        });
        var (engine, writer) = Engine(kafka, handler, Options(32, Backoff));

        // The previous owner sent k1's record at 0 to the retry topic and parked k1.
        var previous = new PartitionState(P0, OrderingMode.Key, _ => { });
        previous.Parked.Park(ParkedKeys.HashOf(Encoding.UTF8.GetBytes("k1")), 0, DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeMilliseconds());
        kafka.AddRecords(P0, 5, key: i => i % 2 == 0 ? "k1" : "k2");
        kafka.SetCommitted(P0, 1, "rk1:" + ParkedKeys.MetadataSeparator + previous.Parked.Encode().Text);
        kafka.FailCommittedReads = 2;
        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(stop.Token);
        kafka.Assign(P0, Q0);

        await Until(() => handled.Count(h => h.Topic == "orders") == 2, TimeSpan.FromSeconds(10));
        await Task.Delay(300);
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        kafka.Timeline.Count(t => t == "read committed failed").Should().Be(2);
        handled.Where(h => h.Topic == "orders").Select(h => h.Offset).Should().BeEquivalentTo([1L, 3L], "only k2's records are handled in place");
        writer.Sent.Where(s => s.Destination.Topic == Q0.Topic).Should().HaveCount(2, "k1's records at 2 and 4 follow its parked record");
    }

    [Theory]
    [InlineData(OrderingMode.None)]
    [InlineData(OrderingMode.Key)]
    public async Task LaterRecordsOfAFailedRecordsKey_FollowItUnlessOrderingIsNone(OrderingMode ordering)
    {
        var kafka = new FakeKafka();
        var handled = new ConcurrentQueue<(string Topic, long Offset)>();
        var handler = new ScriptedHandler(kafka, (record, _) =>
        {
            if (record.Topic == "orders" && record.Offset.Value == 0)
            {
                throw new TimeoutException("once");
            }

            handled.Enqueue((record.Topic, record.Offset.Value));
            return Task.CompletedTask;
        });
        var options = Options(32, TimeSpan.FromMinutes(10));
        options.OrderingMode = ordering;
        var (engine, writer) = Engine(kafka, handler, options);
        kafka.AddRecords(P0, 3, key: _ => "k1");
        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(stop.Token);
        kafka.Assign(P0);

        await Until(() => writer.Sent.Count(s => s.Destination.Topic != "g.parking") + handled.Count == 3, TimeSpan.FromSeconds(10));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        var copies = writer.Sent.Count(s => s.Destination.Topic == RetryTopicOptions.TopicFor("g", "orders", TimeSpan.FromMinutes(10)));
        if (ordering == OrderingMode.None)
        {
            copies.Should().Be(1, "under OrderingMode.None nothing parks: only the failed record goes to retry");
            handled.Select(h => h.Offset).Should().BeEquivalentTo([1L, 2L]);
        }
        else
        {
            copies.Should().Be(3, "the key parked: its later records follow the failed one");
            handled.Should().BeEmpty();
        }
    }

    [Fact]
    public async Task ParkingTopicThatCannotBeRead_IsReportedAsFailingUntilItIsRead()
    {
        var writer = new RetryWriter(new FakeKafka());
        var reads = 0;
        using var parking = new ParkingLog(
            "g.parking",
            "g",
            [],
            _ =>
            {
                Interlocked.Increment(ref reads);
                throw new KafkaException(new Error(ErrorCode.UnknownTopicOrPart, "no such topic (fake)"));
            },
            writer,
            "test",
            NullLogger.Instance,
            TimeProvider.System);

        parking.FailingSince.Should().BeNull("nothing was tried yet");
        parking.Start();
        var since = parking.FailingSince;
        await Until(() => Volatile.Read(ref reads) >= 2, TimeSpan.FromSeconds(5));

        since.Should().NotBeNull("until the topic was read once, no release can have been read");
        parking.FailingSince.Should().Be(since, "it keeps failing from the same moment on (the health check reports it after 10 s)");
    }

    private static ConsumerOptions Options(int metadataKeys, TimeSpan backoff) => RetryEngine.Options(metadataKeys, backoff);

    private static (ConsumerEngine Engine, RetryWriter Writer) Engine(FakeKafka kafka, ScriptedHandler handler, ConsumerOptions options)
    {
        var writer = new RetryWriter(kafka);
        return (RetryEngine.Create(kafka, handler, options, writer), writer);
    }

    private static Task Until(Func<bool> condition, TimeSpan timeout) => RetryEngine.Until(condition, timeout);

    /// <summary>Writes retry copies into the fake cluster's retry topic partition; the parking topic's releases are kept.</summary>
    private sealed class RetryWriter(FakeKafka kafka) : IDeadLetterWriter
    {
        private readonly object _gate = new();

        public ConcurrentQueue<ConsumeResult<byte[]?, byte[]?>> DeadLettered { get; } = new();

        public ConcurrentQueue<(TopicPartition Destination, Message<byte[]?, byte[]?> Message)> Sent { get; } = new();

        public Task<TopicPartitionOffset> WriteAsync(ConsumeResult<byte[]?, byte[]?> record, Exception error, int attempts, CancellationToken cancellationToken)
        {
            DeadLettered.Enqueue(record);
            return Task.FromResult(new TopicPartitionOffset("orders.dlt", 0, DeadLettered.Count - 1));
        }

        public Task<bool> ContainsAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken) => Task.FromResult(false);

        public Task<TopicPartitionOffset> SendAsync(TopicPartition destination, Message<byte[]?, byte[]?> message, CancellationToken cancellationToken)
        {
            Sent.Enqueue((destination, message));
            if (destination.Topic != Q0.Topic)
            {
                return Task.FromResult(new TopicPartitionOffset(destination.Topic, 0, Sent.Count - 1));
            }

            lock (_gate)
            {
                var offset = kafka.EndOffset(Q0);
                kafka.SetHeaders(Q0, offset, message.Headers ?? []);
                kafka.AddRecords(Q0, 1, _ => message.Key is null ? null : Encoding.UTF8.GetString(message.Key));
                return Task.FromResult(new TopicPartitionOffset(Q0, offset));
            }
        }

        public Task<int> PartitionCountAsync(string topic, bool refresh, CancellationToken cancellationToken) => Task.FromResult(1);

        public void Dispose()
        {
        }
    }
}
