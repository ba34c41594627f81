using System.Text;
using Confluent.Kafka;
using ReliableKafka.Failures.Internal.Retry;

namespace ReliableKafka.Tests.Failures;

public sealed class RetryHeadersTests
{
    private static readonly RetryLevels Levels = new("billing", ["orders"], [TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1)]);

    [Fact]
    public void Levels_NameTheRetryTopicsAndLocateThem()
    {
        Levels.Topics.Should().Equal("orders.retry.billing.10s", "orders.retry.billing.1m");
        Levels.Locate("orders").Should().Be(("orders", 0));
        Levels.Locate("orders.retry.billing.1m").Should().Be(("orders", 2));
        Levels.TopicOf("orders", 1).Should().Be("orders.retry.billing.10s");
        Levels.IsRetryTopic("orders.retry.billing.10s").Should().BeTrue();
        Levels.IsRetryTopic("payments.retry.billing.10s").Should().BeFalse("only the consumer's own topics' retry topics are");
    }

    [Fact]
    public void ForNextLevel_ReplacesRetryHeadersKeepsTheFirstFailureAndTheOrigin()
    {
        var now = DateTimeOffset.UtcNow;
        var source = Record("orders", 3, 42, new Headers { { "app", [1] } });
        var first = RetryHeaders.ForNextLevel(source, RecordOrigin.Of(source), new TimeoutException("busy"), now, 1, now.AddSeconds(10), [new ParkedPlace("orders", 3, 42)], 1000);

        var copy = Record("orders.retry.billing.10s", 0, 7, first);
        Levels.OriginOf(copy).Should().Be(new RecordOrigin("orders", 3, 42, 1000));
        RetryHeaders.ReadCount(copy.Message.Headers).Should().Be(1);
        RetryHeaders.ReadNotBefore(copy.Message.Headers).Should().Be(DateTimeOffset.FromUnixTimeMilliseconds(now.AddSeconds(10).ToUnixTimeMilliseconds()));
        RetryHeaders.ReadParkedIn(copy.Message.Headers).Should().Equal(new ParkedPlace("orders", 3, 42));

        var second = RetryHeaders.ForNextLevel(copy, Levels.OriginOf(copy), new InvalidOperationException("later"), now.AddSeconds(11), 2, now.AddMinutes(2), [new ParkedPlace("orders", 3, 42), new ParkedPlace("orders.retry.billing.10s", 0, 7)], 1000);
        second.Count(h => h.Key == ReliableKafkaHeaders.RetryCount).Should().Be(1, "headers are replaced, not appended");
        second.Count(h => h.Key == "app").Should().Be(1);
        Text(second, ReliableKafkaHeaders.RetryFirstExceptionType).Should().Be(typeof(TimeoutException).FullName, "the first failure is kept");
        Text(second, ReliableKafkaHeaders.RetryFirstExceptionMessage).Should().Be("busy");
        Text(second, ReliableKafkaHeaders.RetryParkedIn).Should().Be("orders:3:42 orders.retry.billing.10s:0:7");
    }

    [Fact]
    public void OriginOf_IgnoresRetryHeadersOutsideRetryTopics()
    {
        var now = DateTimeOffset.UtcNow;
        var source = Record("orders", 3, 42, []);
        var headers = RetryHeaders.ForNextLevel(source, RecordOrigin.Of(source), null, now, 0, now, [], 1000);
        var elsewhere = Record("orders", 1, 5, headers);

        Levels.OriginOf(elsewhere).Should().Be(new RecordOrigin("orders", 1, 5, 1000), "a source topic's record is its own origin whatever its headers say");
    }

    [Fact]
    public void ReadParkedIn_SkipsDamagedEntries()
    {
        var headers = new Headers { { ReliableKafkaHeaders.RetryParkedIn, Encoding.UTF8.GetBytes("orders:1:5 bad orders::7 orders.retry.billing.10s:2:9") } };
        RetryHeaders.ReadParkedIn(headers).Should().Equal(new ParkedPlace("orders", 1, 5), new ParkedPlace("orders.retry.billing.10s", 2, 9));
    }

    [Fact]
    public void Gate_HoldsRetryRecordsUntilTheirTimeButNoLongerThanTheirBackoffAfterTheyWereWritten()
    {
        var gate = new RetryGate(Levels);
        var now = DateTimeOffset.UtcNow;
        var written = new Timestamp(now.ToUnixTimeMilliseconds(), TimestampType.CreateTime);
        Headers At(DateTimeOffset notBefore) => new() { { ReliableKafkaHeaders.RetryNotBefore, Encoding.UTF8.GetBytes(notBefore.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture)) } };

        gate.NotBefore(Record("orders", 0, 1, At(now.AddHours(1)), written)).Should().BeNull("source records are taken at once");
        gate.NotBefore(Record("orders.retry.billing.10s", 0, 1, At(now.AddSeconds(5)), written)).Should().Be(DateTimeOffset.FromUnixTimeMilliseconds(now.AddSeconds(5).ToUnixTimeMilliseconds()));
        gate.NotBefore(Record("orders.retry.billing.10s", 0, 1, At(now.AddDays(3)), written)).Should().Be(DateTimeOffset.FromUnixTimeMilliseconds(written.UnixTimestampMs + 10_000), "a damaged time holds no longer than the backoff");
        gate.NotBefore(Record("orders.retry.billing.10s", 0, 1, [], written)).Should().BeNull();
    }

    private static ConsumeResult<byte[]?, byte[]?> Record(string topic, int partition, long offset, Headers headers, Timestamp? timestamp = null) => new()
    {
        TopicPartitionOffset = new TopicPartitionOffset(topic, partition, offset),
        Message = new Message<byte[]?, byte[]?> { Key = [1], Value = [2], Headers = headers, Timestamp = timestamp ?? new Timestamp(1000, TimestampType.CreateTime) },
    };

    private static string? Text(Headers headers, string key) => headers.TryGetLastBytes(key, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;
}
