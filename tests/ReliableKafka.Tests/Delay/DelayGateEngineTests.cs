using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Time.Testing;
using ReliableKafka.Delay.Internal;
using ReliableKafka.Tests.Consuming;

namespace ReliableKafka.Tests.Delay;

/// <summary>The consumer engine with the delay tiers' gate, on a fake clock: a record is taken only once its hop time came.</summary>
public sealed class DelayGateEngineTests
{
    private static readonly TopicPartition P0 = new("orders", 0);
    private static readonly TopicPartition P1 = new("orders", 1);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    [Fact]
    public async Task APartitionWaitsPausedUntilItsHeadIsDue_OthersFlow_AndRecordsBehindTheHeadWaitToo()
    {
        var kafka = new FakeKafka();
        kafka.AddRecords(P0, 3, o => $"k{o}");
        HopAt(kafka, P0, 0, TimeSpan.FromSeconds(10));
        HopAt(kafka, P0, 1, TimeSpan.Zero); // due now, but behind a head that is not
        HopAt(kafka, P0, 2, TimeSpan.FromSeconds(20));
        kafka.AddRecords(P1, 2); // no hop time: taken at once
        await using var run = EngineRun.Start(o => o.OrderingMode = OrderingMode.Key, kafka: kafka, gate: new DelayGate(new Dictionary<string, TimeSpan>()), time: _time);
        kafka.Assign(P0, P1);

        await run.UntilAsync(() => run.Handler.Completed.Count(r => r.Partition == 1) == 2 && Pauses(kafka) == 1);
        await Task.Delay(300);
        run.Handler.Started.Should().NotContain(r => r.Partition == 0, "nothing of partition 0 is due while its head is not");

        _time.Advance(TimeSpan.FromSeconds(10));
        await run.UntilAsync(() => run.Handler.Completed.Count(r => r.Partition == 0) == 2 && Pauses(kafka) == 2);
        await Task.Delay(300);
        run.Handler.Started.Where(r => r.Partition == 0).Select(r => r.Offset).Should().BeEquivalentTo([0L, 1L], "the third is due 10 s later");

        _time.Advance(TimeSpan.FromSeconds(10));
        await run.UntilAsync(() => run.Handler.Completed.Count(r => r.Partition == 0) == 3);
        run.Handler.Started.Where(r => r.Partition == 0).Should().HaveCount(3, "each record is handed to the handler once");
    }

    [Fact]
    public async Task AHeldPartitionRevokedAndAssignedAgain_StillWaitsForItsHead()
    {
        var kafka = new FakeKafka();
        kafka.AddRecords(P0, 1);
        HopAt(kafka, P0, 0, TimeSpan.FromSeconds(10));
        await using var run = EngineRun.Start(kafka: kafka, gate: new DelayGate(new Dictionary<string, TimeSpan>()), time: _time);
        kafka.Assign(P0);
        await run.UntilAsync(() => Pauses(kafka) == 1);

        kafka.Revoke(P0);
        kafka.Assign(P0);
        await Task.Delay(500);
        run.Handler.Started.Should().BeEmpty("the record is still not due after the partition came back");

        _time.Advance(TimeSpan.FromSeconds(10));
        await run.UntilAsync(() => run.Handler.Completed.Count == 1);
        await run.StopAsync();
        kafka.Committed(P0).Should().Be(1);
    }

    [Fact]
    public void NotBefore_IsTheHopTimeLessTheLookahead_ButNeverLaterThanTheDueTimeOrATierAfterTheRecordWasWritten()
    {
        var gate = new DelayGate(new Dictionary<string, TimeSpan> { ["shop.delay.30s"] = TimeSpan.FromSeconds(30) });
        var written = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

        gate.NotBefore(Record("shop.delay.30s", written, hopAt: written.AddSeconds(30), dueAt: written.AddMinutes(5)))
            .Should().Be(written.AddSeconds(30) - DelayGate.Lookahead);
        gate.NotBefore(Record("shop.delay.30s", written, hopAt: written.AddSeconds(30), dueAt: written.AddSeconds(10)))
            .Should().Be(written.AddSeconds(10) - DelayGate.Lookahead, "a record never waits past its due time");
        gate.NotBefore(Record("shop.delay.30s", written, hopAt: new DateTimeOffset(9999, 1, 1, 0, 0, 0, TimeSpan.Zero), dueAt: null))
            .Should().Be(written.AddSeconds(30) - DelayGate.Lookahead, "a hop time far ahead holds the partition for one tier at most");
        gate.NotBefore(Record("orders", written, hopAt: null, dueAt: null)).Should().BeNull("a record without a hop time is taken at once (and fails as unreadable)");
    }

    private static ConsumeResult<byte[]?, byte[]?> Record(string topic, DateTimeOffset written, DateTimeOffset? hopAt, DateTimeOffset? dueAt)
    {
        var headers = new Headers();
        if (hopAt is { } hop)
        {
            headers.Add(ReliableKafkaHeaders.DelayHopAt, Encoding.UTF8.GetBytes(hop.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
        }

        if (dueAt is { } due)
        {
            headers.Add(ReliableKafkaHeaders.DelayDueAt, Encoding.UTF8.GetBytes(due.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
        }

        return new ConsumeResult<byte[]?, byte[]?>
        {
            Topic = topic,
            Message = new Message<byte[]?, byte[]?> { Headers = headers, Timestamp = new Timestamp(written) },
        };
    }

    /// <summary>How often partition 0 was paused.</summary>
    private static int Pauses(FakeKafka kafka) => kafka.Timeline.Count(e => e.StartsWith("pause ", StringComparison.Ordinal) && e[6..].Split(", ").Contains("0"));

    private void HopAt(FakeKafka kafka, TopicPartition partition, long offset, TimeSpan fromNow)
    {
        var ms = (_time.GetUtcNow() + fromNow).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        kafka.SetHeaders(partition, offset, new Headers { { ReliableKafkaHeaders.DelayHopAt, Encoding.UTF8.GetBytes(ms) } });
    }
}
