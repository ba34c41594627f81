using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Time.Testing;
using ReliableKafka.Delay.Internal;

namespace ReliableKafka.Tests.Delay;

public sealed class ScheduleIdsTests
{
    [Fact]
    public void Create_CarriesTheDueTimeThatTryParseReadsBack_AndIsUnique()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero));
        var due = time.GetUtcNow().AddMinutes(30);

        var first = ScheduleIds.Create(time, due);
        var second = ScheduleIds.Create(time, due);

        first.Should().NotBe(second);
        ScheduleIds.TryParse(first, out var parsed).Should().BeTrue();
        parsed.Should().Be(due);
    }

    [Fact]
    public void FromMessageId_IsTheSameForTheSameIdTopicAndDueTime_AndAValidScheduleId()
    {
        var due = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

        var id = ScheduleIds.FromMessageId("order-42-deadline", "deadlines", due);

        ScheduleIds.FromMessageId("order-42-deadline", "deadlines", due).Should().Be(id, "a retried schedule is the same message");
        ScheduleIds.FromMessageId("order-43-deadline", "deadlines", due).Should().NotBe(id);
        ScheduleIds.FromMessageId("order-42-deadline", "reminders", due).Should().NotBe(id, "the same message to another topic is another schedule");
        ScheduleIds.FromMessageId("order-42-deadline", "deadlines", due.AddMinutes(1)).Should().NotBe(id);
        ScheduleIds.TryParse(id, out var parsed).Should().BeTrue();
        parsed.Should().Be(due);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not-a-schedule-id")]
    [InlineData("0123456789abcdef0123456789abcdef")] // no due time
    [InlineData("0123456789abcdef0123456789abcdef-")]
    [InlineData("0123456789abcdef0123456789abcdeg-1700000000000")] // not hex
    [InlineData("0123456789abcdef0123456789abcdef--1")]
    [InlineData("0123456789abcdef0123456789abcdef-99999999999999999999")] // beyond DateTimeOffset
    [InlineData("0123456789ABCDEF0123456789abcdef-1700000000000")] // upper case: another key than the id on the message
    [InlineData("0123456789abcdef0123456789abcdef-01700000000000")] // leading zero: likewise
    public void TryParse_RefusesWhatIsNotAScheduleId(string? text) => ScheduleIds.TryParse(text, out _).Should().BeFalse();

    [Fact]
    public void ReadTime_RefusesGarbage_AndForNextHopReplacesOnlyTheHopTime()
    {
        var headers = new Headers
        {
            { ReliableKafkaHeaders.MessageId, Encoding.UTF8.GetBytes("id") },
            { "app", Encoding.UTF8.GetBytes("kept") },
            { ReliableKafkaHeaders.DelayTarget, Encoding.UTF8.GetBytes("orders") },
            { ReliableKafkaHeaders.DelayDueAt, Encoding.UTF8.GetBytes("1764504000000") },
        };
        DelayHeaders.SetHopAt(headers, DateTimeOffset.FromUnixTimeMilliseconds(1764503999000));

        var next = DelayHeaders.ForNextHop(headers, DateTimeOffset.FromUnixTimeMilliseconds(1764503999500));
        var delivered = DelayHeaders.ForNextHop(headers, hopAt: null);

        next.Count(h => h.Key == ReliableKafkaHeaders.DelayHopAt).Should().Be(1, "headers do not grow hop by hop");
        DelayHeaders.ReadTime(next, ReliableKafkaHeaders.DelayHopAt).Should().Be(DateTimeOffset.FromUnixTimeMilliseconds(1764503999500));
        DelayHeaders.ReadText(next, ReliableKafkaHeaders.DelayTarget).Should().Be("orders");
        delivered.Select(h => h.Key).Should().Equal(ReliableKafkaHeaders.MessageId, "app");
        foreach (var garbage in new[] { "", "-5", "12a", "1e9", " 1", "99999999999999999999" })
        {
            var h = new Headers { { ReliableKafkaHeaders.DelayDueAt, Encoding.UTF8.GetBytes(garbage) } };
            DelayHeaders.ReadTime(h, ReliableKafkaHeaders.DelayDueAt).Should().BeNull($"'{garbage}' is not a time");
        }
    }
}
