using ReliableKafka.Deduplication.Internal;

namespace ReliableKafka.Tests.Deduplication;

public sealed class BatcherTests
{
    [Fact]
    public async Task RunAsync_OneRequestFailsItsBatch_OnlyThatRequestFails()
    {
        var gate = new TaskCompletionSource();
        var batcher = new Batcher<int, int, int>(
            r => r,
            async (requests, _) =>
            {
                await gate.Task;
                return requests.Contains(13) ? throw new InvalidOperationException("refused: 13") : [.. requests.Select(r => r * 2)];
            },
            maxBatch: 100,
            maxInFlight: 1);

        var calls = Enumerable.Range(0, 21).Select(batcher.RunAsync).ToList();
        gate.SetResult();
        var outcomes = await Task.WhenAll(calls.Select(t => t.ContinueWith(x => x, TaskScheduler.Default)));

        outcomes.Where(t => t.IsFaulted).Should().ContainSingle().Which.Exception!.InnerException!.Message.Should().Be("refused: 13");
        outcomes.Where(t => !t.IsFaulted).Select(t => t.Result).Should().BeEquivalentTo(Enumerable.Range(0, 21).Where(i => i != 13).Select(i => i * 2));
    }

    [Fact]
    public async Task RunAsync_ErrorThatNoRequestCauses_FailsTheBatchWithoutRetryingEachAlone()
    {
        var gate = new TaskCompletionSource();
        var executed = 0;
        var batcher = new Batcher<int, int, int>(
            r => r,
            async (requests, _) =>
            {
                Interlocked.Add(ref executed, requests.Count);
                await gate.Task;
                throw new TimeoutException("database unreachable");
            },
            maxBatch: 100,
            maxInFlight: 1,
            refusedItem: e => e is not TimeoutException);

        var calls = Enumerable.Range(0, 11).Select(batcher.RunAsync).ToList();
        gate.SetResult();
        var outcomes = await Task.WhenAll(calls.Select(t => t.ContinueWith(x => x, TaskScheduler.Default)));

        outcomes.Should().OnlyContain(t => t.IsFaulted && t.Exception!.InnerException is TimeoutException);
        executed.Should().Be(11, "an outage fails each batch once: no request is tried again alone");
    }
}
