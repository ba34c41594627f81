using ReliableKafka.Failures.Internal;

namespace ReliableKafka.Tests.Failures;

public sealed class BackoffsTests
{
    private static readonly TimeSpan First = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(0, 500)]
    [InlineData(1, 1_000)]
    [InlineData(3, 4_000)]
    [InlineData(6, 30_000)]
    [InlineData(7, 30_000)]
    [InlineData(62, 30_000)]
    [InlineData(int.MaxValue, 30_000)]
    public void Delay_DoublesUpToTheCapAndStaysInTheUpperHalfOfIt(int attempt, int ceilingMs)
    {
        var delays = Enumerable.Range(0, 200).Select(_ => Backoffs.Delay(First, Max, attempt).TotalMilliseconds).ToList();

        delays.Should().OnlyContain(d => d >= ceilingMs * 0.5 && d <= ceilingMs);
        delays.Distinct().Count().Should().BeGreaterThan(100, "the waits are spread out, at the cap too, so members do not retry in lockstep");
    }

    [Fact]
    public async Task UntilItWorks_RetriesWhatItHandlesWithTheDelaysItReportsAndStopsAtWhatItDoesNot()
    {
        var reported = new List<TimeSpan>();
        var pipeline = Backoffs.UntilItWorks(
            TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(4), TimeProvider.System, e => e is TimeoutException, (_, delay) => reported.Add(delay));
        var calls = 0;

        var result = await pipeline.ExecuteAsync(_ => ++calls < 4 ? throw new TimeoutException() : ValueTask.FromResult(calls));

        result.Should().Be(4);
        reported.Should().HaveCount(3).And.OnlyContain(d => d >= TimeSpan.FromMilliseconds(0.5) && d <= TimeSpan.FromMilliseconds(4));
        var failing = () => pipeline.ExecuteAsync(_ => throw new FormatException()).AsTask();
        await failing.Should().ThrowAsync<FormatException>("a failure it does not handle ends it at once");
    }
}
