using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Faults;

/// <summary>
/// Retry topics with key parking under crashes and churn: 5% of the keys fail now and then (a failing record succeeds
/// after 1 to 3 failures, each sending it one retry topic further), 0.5% of the records always fail (they end in the
/// dead-letter topic after the last retry topic), while members are killed without Close, join and leave. Checks L, D,
/// C and O, with O over the messages' per-key sequence numbers: a record that went through retry topics, and the
/// records of its key behind it, take effect in their order (records that always fail excepted).
/// </summary>
[Trait("Category", "Faults")]
[Collection(nameof(FaultScenarioTests))]
public sealed class RetryFaultScenarioTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Settle = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task RetryTopicsWithParkedKeys_WhileMembersCrashJoinAndLeave()
    {
        await FaultRun.RunAsync("retry-parking", 108, output, async run =>
        {
            run.UseRetryTopics(TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1));
            var flakyKeys = Enumerable.Range(0, FaultRun.Keys).Where(_ => run.Random.NextDouble() < 0.05).Select(k => $"k{k:D3}").ToHashSet();
            var failures = new ConcurrentDictionary<string, int>();
            run.AlwaysFails = id => Roll(id, "poison") < 0.005;
            run.Behavior.Fails = message =>
            {
                if (run.AlwaysFails(message.Id))
                {
                    return true;
                }

                // A third of a flaky key's records fail 1 to 3 times, then succeed (each failure sends it one retry topic on).
                if (!flakyKeys.Contains(message.Key) || Roll(message.Id, "flaky") >= 0.33)
                {
                    return false;
                }

                var needed = 1 + (int)(Roll(message.Id, "times") * 3);
                return failures.AddOrUpdate(message.Id, 1, (_, n) => n + 1) <= needed;
            };
            run.Note($"flaky keys: {string.Join(", ", flakyKeys.Order(StringComparer.Ordinal))}");
            for (var i = 0; i < 3; i++)
            {
                run.StartMember(o => o.MaxConcurrency = 8);
            }

            run.WatchProgress(TimeSpan.FromSeconds(45));
            var producing = run.ProduceAsync(4000, TimeSpan.FromSeconds(12));
            for (var i = 0; i < 8; i++)
            {
                await Task.Delay(run.Random.Next(700, 1300));
                if (i % 2 == 0)
                {
                    await run.CrashAsync(await run.BusyMemberAsync());
                    run.StartMember(o => o.MaxConcurrency = 8);
                }
                else
                {
                    var leaving = run.Members[run.Random.Next(run.Members.Count)];
                    await run.FaultAsync($"{leaving.Name} leaves (Close), a new member joins", async () =>
                    {
                        await run.StopAsync(leaving);
                        run.StartMember(o => o.MaxConcurrency = 8);
                    });
                }
            }

            await producing;
            await run.WaitForAllAsync(Settle);
            run.Note($"records that failed at least once: {failures.Count}");
            await run.FinishAsync(expectRedeliveries: true, report => failures.Should().NotBeEmpty("records went through the retry topics"));
        });
    }

    /// <summary>A number in [0, 1) fixed by a message id and a purpose, the same in every run.</summary>
    private static double Roll(string id, string purpose) =>
        BitConverter.ToUInt32(SHA256.HashData(Encoding.UTF8.GetBytes(purpose + "/" + id)), 0) / (double)uint.MaxValue;
}
