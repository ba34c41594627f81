using Microsoft.Extensions.Time.Testing;
using ReliableKafka.Delay.Internal;

namespace ReliableKafka.Tests.Delay;

public sealed class DelayTiersTests
{
    private static readonly TimeSpan[] Tiers = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(1)];

    [Theory]
    [InlineData(400, 1_000)] // shorter than every tier: the shortest, where it waits until due
    [InlineData(1_000, 1_000)] // exactly a tier
    [InlineData(4_999, 1_000)] // never a tier longer than the remaining delay
    [InlineData(5_000, 5_000)]
    [InlineData(59_999, 30_000)]
    [InlineData(3_600_000, 60_000)] // longer than every tier: the longest, then again
    public void Choose_TakesTheLargestTierNotLongerThanTheRemainingDelay(int remainingMs, int expectedMs) =>
        DelayTiers.Choose(Tiers, TimeSpan.FromMilliseconds(remainingMs)).Should().Be(TimeSpan.FromMilliseconds(expectedMs));

    [Fact]
    public void HopAt_IsATierLaterOrTheDueTimeWhicheverIsSooner()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero));
        var now = time.GetUtcNow();

        DelayTiers.HopAt(now, now.AddSeconds(12), TimeSpan.FromSeconds(5)).Should().Be(now.AddSeconds(5));
        DelayTiers.HopAt(now, now.AddMilliseconds(300), TimeSpan.FromSeconds(1)).Should().Be(now.AddMilliseconds(300), "a record never waits past its due time");
    }

    [Fact]
    public void ACascade_NeverWaitsPastTheDueTime_AndEndsInTheShortestTierAtTheDueTime()
    {
        // The forwarder's decisions, replayed with a fake clock: at each hop time the remaining delay picks the next tier.
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero));
        var due = time.GetUtcNow().AddSeconds(97.3);
        var hops = new List<TimeSpan>();
        while (time.GetUtcNow() < due)
        {
            var tier = DelayTiers.Choose(Tiers, due - time.GetUtcNow());
            var hopAt = DelayTiers.HopAt(time.GetUtcNow(), due, tier);
            hopAt.Should().BeOnOrBefore(due);
            hops.Add(tier);
            time.SetUtcNow(hopAt);
        }

        time.GetUtcNow().Should().Be(due);
        hops.Should().Equal(
            TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    [Theory]
    [InlineData(500, "500ms")]
    [InlineData(1_500, "1500ms")]
    [InlineData(30_000, "30s")]
    [InlineData(300_000, "5m")]
    [InlineData(86_400_000, "24h")]
    public void Name_IsTheShortestExactSpelling(int ms, string expected) => DelayTiers.Name(TimeSpan.FromMilliseconds(ms)).Should().Be(expected);

    [Theory]
    [InlineData("shop.delay.500ms", 500)]
    [InlineData("shop.delay.30s", 30_000)]
    [InlineData("a.b.delay.5m", 300_000)]
    [InlineData("shop.delay.24h", 86_400_000)]
    public void FromTopic_ReadsTheTierOfATierTopic(string topic, int expectedMs) => DelayTiers.FromTopic(topic).Should().Be(TimeSpan.FromMilliseconds(expectedMs));

    [Theory]
    [InlineData("shop.delay.cancelled")]
    [InlineData("shop.delay.dlt")]
    [InlineData("shop.delay.s")]
    [InlineData("shop.delay.-5s")]
    [InlineData("orders")]
    [InlineData("shop.delay.")]
    [InlineData("shop.delay.ms")]
    [InlineData("shop.delay.300000000h")]
    [InlineData("shop.delay.8d")]
    public void FromTopic_IsNullForOtherTopics(string topic) => DelayTiers.FromTopic(topic).Should().BeNull();

    [Fact]
    public void Problems_NameTiersOutOfOrderRepeatedTooShortTooLongOrNotWholeMilliseconds()
    {
        DelayTiers.Problems(Tiers).Should().BeEmpty();
        DelayTiers.Problems([TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1)]).Should().ContainSingle().Which.Should().Contain("Tiers[1]").And.Contain("shortest first");
        DelayTiers.Problems([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)]).Should().ContainSingle().Which.Should().Contain("each once");
        DelayTiers.Problems([TimeSpan.FromMilliseconds(50)]).Should().ContainSingle().Which.Should().Contain("100 ms to 7 days");
        DelayTiers.Problems([TimeSpan.FromDays(8)]).Should().ContainSingle().Which.Should().Contain("100 ms to 7 days");
        DelayTiers.Problems([TimeSpan.FromTicks(TimeSpan.TicksPerSecond + 1)]).Should().ContainSingle().Which.Should().Contain("whole milliseconds");
    }
}
