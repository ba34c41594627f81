using Confluent.Kafka;
using ReliableKafka.Deduplication;
using ReliableKafka.Deduplication.Internal;
using ReliableKafka.TestSupport;
using ReliableKafka.Tests.Consuming;

namespace ReliableKafka.Tests.Deduplication;

/// <summary>The engine's deduplication protocol (claim, handle, complete or release) against a scripted consumer.</summary>
public sealed class IdempotentConsumerTests
{
    private static readonly TopicPartition P0 = new("orders", 0);
    private static readonly TimeSpan LongLease = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task SameMessageIdTwice_HandlerRunsOnceBothAreCommittedAndOneDuplicateIsCounted()
    {
        var group = Unique();
        using var suppressed = new CounterProbe("reliablekafka.consumer.duplicates_suppressed", group);
        var store = new InMemoryDeduplicationStore();
        await using var run = EngineRun.Start(o => o.GroupId = group, store: store);
        run.Handler.SelectId = r => r.Offset.Value == 2 ? "m0" : $"m{r.Offset.Value}";
        run.Kafka.AddRecords(P0, 4, key: _ => "k");
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 4 || run.Handler.Completed.Count == 3);
        await run.StopAsync();

        run.Handler.Completed.Select(r => r.Offset).Should().Equal(0, 1, 3);
        run.Kafka.Committed(P0).Should().Be(4);
        suppressed.Total.Should().Be(1);
    }

    [Fact]
    public async Task MessageIds_AreScopedByConsumerGroup()
    {
        var store = new InMemoryDeduplicationStore();
        await store.ClaimAsync(new DeduplicationKey("other-group", "m0"), Guid.NewGuid(), LongLease);
        await using var run = EngineRun.Start(store: store);
        run.Handler.SelectId = r => $"m{r.Offset.Value}";
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 1 || run.Handler.Completed.Count == 1);
        await run.StopAsync();

        run.Handler.Completed.Should().ContainSingle("another group's claim on the same id does not hold this group back");
    }

    [Fact]
    public async Task HandlerFailsThenSucceeds_ClaimIsReleasedBetweenAttemptsAndCompletedOnce()
    {
        var store = new InMemoryDeduplicationStore();
        var failures = 0;
        await using var run = EngineRun.Start(
            o => FailurePolicyTests.Fast(o.Retry),
            (record, _) => Interlocked.Increment(ref failures) <= 2 ? throw new TimeoutException("flaky") : Task.CompletedTask,
            store: store);
        run.Handler.SelectId = _ => "m0";
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 1);
        await run.StopAsync();

        run.Handler.Started.Should().HaveCount(3);
        run.Kafka.Committed(P0).Should().Be(1);
        (await store.ClaimAsync(new DeduplicationKey("g", "m0"), Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.AlreadyProcessed);
    }

    [Fact]
    public async Task HandlerAlwaysFails_IsDeadLetteredAndItsClaimReleasedNotCompleted()
    {
        var store = new InMemoryDeduplicationStore();
        await using var run = EngineRun.Start(
            o => FailurePolicyTests.Fast(o.Retry),
            (_, _) => throw new InvalidOperationException("always"),
            store: store);
        run.Handler.SelectId = _ => "m0";
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 1 || !run.DeadLetters.Written.IsEmpty);
        await run.StopAsync();

        run.DeadLetters.Written.Should().ContainSingle();
        (await store.ClaimAsync(new DeduplicationKey("g", "m0"), Guid.NewGuid(), LongLease)).Status.Should().Be(
            ClaimStatus.Claimed, "a failed record is not processed: a redrive must handle it");
    }

    [Fact]
    public async Task ReleaseFailsAfterAFailedAttempt_TheNextAttemptReleasesItFirstInsteadOfWaitingForTheLease()
    {
        var store = new FlakyStore(new InMemoryDeduplicationStore()) { FailReleases = 1 };
        var failures = 0;
        await using var run = EngineRun.Start(
            o =>
            {
                FailurePolicyTests.Fast(o.Retry);
                o.Deduplication.LeaseDuration = TimeSpan.FromMinutes(10);
            },
            (_, _) => Interlocked.Increment(ref failures) == 1 ? throw new TimeoutException("flaky") : Task.CompletedTask,
            store: store);
        run.Handler.SelectId = _ => "m0";
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 1);
        await run.StopAsync();

        run.Handler.Started.Should().HaveCount(2, "the second attempt ran at once: it did not wait 10 minutes for the first attempt's lease");
        store.FailReleases.Should().BeLessThan(0, "the failed release was tried again");
    }

    [Fact]
    public async Task MessageClaimedByAnotherMember_WaitsUncommittedUntilItIsReleasedThenHandles()
    {
        var store = new InMemoryDeduplicationStore();
        var zombie = Guid.NewGuid();
        var key = new DeduplicationKey("g", "m0");
        await store.ClaimAsync(key, zombie, LongLease);
        await using var run = EngineRun.Start(o => o.CommitInterval = TimeSpan.FromMilliseconds(20), store: store);
        run.Handler.SelectId = r => $"m{r.Offset.Value}";
        run.Kafka.AddRecords(P0, 2, key: _ => "k");
        run.Kafka.Assign(P0);
        await Task.Delay(500);

        run.Handler.Started.Should().BeEmpty("another member holds the claim");
        (run.Kafka.Committed(P0) ?? 0).Should().Be(0);

        await store.ReleaseAsync(key, zombie);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 2);
        run.Handler.Completed.Select(r => r.Offset).Should().Equal(0, 1);
    }

    [Fact]
    public async Task MessageCompletedByAnotherMemberWhileWaiting_IsSkippedAsADuplicate()
    {
        var store = new InMemoryDeduplicationStore();
        var zombie = Guid.NewGuid();
        var key = new DeduplicationKey("g", "m0");
        await store.ClaimAsync(key, zombie, LongLease);
        await using var run = EngineRun.Start(o => o.CommitInterval = TimeSpan.FromMilliseconds(20), store: store);
        run.Handler.SelectId = _ => "m0";
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await Task.Delay(200);

        await store.CompleteAsync(key, zombie);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 1);
        run.Handler.Started.Should().BeEmpty();
    }

    [Fact]
    public async Task ClaimLeftByACrashedMember_IsHandledOnceItsLeaseExpires()
    {
        var store = new InMemoryDeduplicationStore();
        await store.ClaimAsync(new DeduplicationKey("g", "m0"), Guid.NewGuid(), TimeSpan.FromMilliseconds(600));
        var started = System.Diagnostics.Stopwatch.StartNew();
        await using var run = EngineRun.Start(o => o.CommitInterval = TimeSpan.FromMilliseconds(20), store: store);
        run.Handler.SelectId = _ => "m0";
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 1);

        run.Handler.Completed.Should().ContainSingle();
        started.Elapsed.Should().BeGreaterThan(TimeSpan.FromMilliseconds(500), "the record waited for the crashed member's lease");
    }

    [Fact]
    public async Task HandlerRunningLongerThanTheLease_KeepsItsClaimRenewedSoNoOtherMemberTakesItOver()
    {
        var store = new InMemoryDeduplicationStore();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var run = EngineRun.Start(
            o => o.Deduplication.LeaseDuration = TimeSpan.FromSeconds(1),
            (_, _) => release.Task,
            store: store);
        run.Handler.SelectId = _ => "m0";
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => !run.Handler.Started.IsEmpty);
        await Task.Delay(2500);

        var other = await store.ClaimAsync(new DeduplicationKey("g", "m0"), Guid.NewGuid(), LongLease);
        other.Status.Should().Be(ClaimStatus.InProgressElsewhere, "the running handler's claim was renewed past its 1 s lease");
        release.SetResult();
        await run.UntilAsync(() => run.Handler.Completed.Count == 1);
    }

    [Fact]
    public async Task ClaimNeverFreed_AttemptFailsAfterClaimWaitTimeoutAndMeetsTheFailurePolicy()
    {
        var store = new InMemoryDeduplicationStore();
        await store.ClaimAsync(new DeduplicationKey("g", "m0"), Guid.NewGuid(), LongLease);
        await using var run = EngineRun.Start(
            o =>
            {
                o.Retry.MaxAttempts = 1;
                o.Deduplication.ClaimWaitTimeout = TimeSpan.FromMilliseconds(300);
            },
            store: store);
        run.Handler.SelectId = _ => "m0";
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => !run.DeadLetters.Written.IsEmpty);

        run.DeadLetters.Written.Single().Error.Should().BeOfType<DeduplicationClaimTimeoutException>();
        run.Handler.Started.Should().BeEmpty();
    }

    [Fact]
    public async Task StoreUnavailable_NothingHandledOrCommittedAndReportedUntilItReturns()
    {
        var store = new FlakyStore(new InMemoryDeduplicationStore()) { Down = true };
        await using var run = EngineRun.Start(
            o =>
            {
                o.CommitInterval = TimeSpan.FromMilliseconds(20);
                o.Retry.MaxAttempts = 1;
            },
            store: store);
        run.Handler.SelectId = r => $"m{r.Offset.Value}";
        run.Kafka.AddRecords(P0, 3, key: r => $"k{r}");
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Engine.DeduplicationStoreFailing == 3 && store.Calls >= 6);

        run.Handler.Started.Should().BeEmpty();
        (run.Kafka.Committed(P0) ?? 0).Should().Be(0);
        run.DeadLetters.Written.Should().BeEmpty("a store outage is not a handler failure");

        store.Down = false;
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 3);
        run.Handler.Completed.Should().HaveCount(3);
        run.Engine.DeduplicationStoreFailing.Should().Be(0);
    }

    [Fact]
    public async Task CompletionFails_IsTriedAgainWithoutRunningTheHandlerAgainAndCommittedAfterwards()
    {
        var store = new FlakyStore(new InMemoryDeduplicationStore()) { FailCompletions = 3 };
        await using var run = EngineRun.Start(o => o.CommitInterval = TimeSpan.FromMilliseconds(20), store: store);
        run.Handler.SelectId = _ => "m0";
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 1);

        run.Handler.Started.Should().ContainSingle();
        store.FailCompletions.Should().BeLessThan(0, "the completion was tried until it succeeded");
        (await store.ClaimAsync(new DeduplicationKey("g", "m0"), Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.AlreadyProcessed);
    }

    [Fact]
    public async Task PoisonRecordDeadLetteredBeforeARedelivery_IsNotWrittenAgain()
    {
        var store = new InMemoryDeduplicationStore();
        var earlier = Guid.NewGuid();
        var key = new DeduplicationKey("g", "orders/0@0/0#dead-letter");
        await store.ClaimAsync(key, earlier, LongLease);
        await store.CompleteAsync(key, earlier);
        await using var run = EngineRun.Start(store: store);
        run.Handler.IsPoison = r => r.Offset.Value == 0;
        run.Kafka.AddRecords(P0, 2);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 1);
        await run.StopAsync();

        run.DeadLetters.Written.Should().BeEmpty("the record was dead-lettered before its redelivery");
        run.Kafka.Committed(P0).Should().Be(2);
    }

    [Fact]
    public async Task PoisonRecord_IsDeadLetteredAndItsWriteRecorded()
    {
        var store = new InMemoryDeduplicationStore();
        await using var run = EngineRun.Start(store: store);
        run.Handler.IsPoison = _ => true;
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => !run.DeadLetters.Written.IsEmpty);
        await run.StopAsync();

        (await store.ClaimAsync(new DeduplicationKey("g", "orders/0@0/0#dead-letter"), Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.AlreadyProcessed);
        (await store.ClaimAsync(new DeduplicationKey("g", "orders/0@0/0"), Guid.NewGuid(), LongLease)).Status.Should().Be(
            ClaimStatus.Claimed, "the record itself was not processed: a redriven copy must be handled");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task DeadLetterWriteInterruptedByACrash_TheNextOwnerWritesOnlyIfItIsNotInTheTopic(bool writtenBeforeTheCrash)
    {
        var store = new InMemoryDeduplicationStore();
        var crashed = Guid.NewGuid();
        var key = new DeduplicationKey("g", "orders/0@0/0#dead-letter");
        await store.ClaimAsync(key, crashed, TimeSpan.FromMilliseconds(300));
        var started = key with { MessageId = key.MessageId + "-started" };
        await store.ClaimAsync(started, crashed, LongLease);
        await store.CompleteAsync(started, crashed);
        await using var run = EngineRun.Start(o => o.CommitInterval = TimeSpan.FromMilliseconds(20), store: store);
        if (writtenBeforeTheCrash)
        {
            run.DeadLetters.Written.Enqueue((new ConsumeResult<byte[]?, byte[]?> { TopicPartitionOffset = new TopicPartitionOffset(P0, 0) }, new FormatException("x"), 0));
        }

        run.Handler.IsPoison = r => r.Offset.Value == 0;
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 1);

        run.DeadLetters.Written.Should().ContainSingle(writtenBeforeTheCrash ? "it was written before the crash" : "the crashed member had not written it");
        (await store.ClaimAsync(key, Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.AlreadyProcessed);
    }

    [Fact]
    public async Task NoSelector_UsesTopicPartitionOffsetWhenThereIsNoIdHeader()
    {
        var store = new InMemoryDeduplicationStore();
        await using var run = EngineRun.Start(store: store);
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 1 || run.Handler.Completed.Count == 1);
        await run.StopAsync();

        (await store.ClaimAsync(new DeduplicationKey("g", "orders/0@0/0"), Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.AlreadyProcessed);
    }

    [Fact]
    public async Task RedrivenCopyThatFailsAgain_IsDeadLetteredAgainInsteadOfCommittedAsADuplicate()
    {
        // The original (offset 0) and its redriven copy (offset 1) carry the same message id; both fail for good.
        var store = new InMemoryDeduplicationStore();
        await using var run = EngineRun.Start(
            o =>
            {
                FailurePolicyTests.Fast(o.Retry);
                o.CommitInterval = TimeSpan.FromMilliseconds(20);
            },
            (_, _) => throw new InvalidOperationException("still failing"),
            store: store);
        run.Kafka.AddRecords(P0, 2, key: _ => "k");
        run.Kafka.SetHeaders(P0, 0, new Headers { { ReliableKafkaHeaders.MessageId, "m-1"u8.ToArray() } });
        run.Kafka.SetHeaders(P0, 1, new Headers { { ReliableKafkaHeaders.MessageId, "m-1"u8.ToArray() }, { ReliableKafkaHeaders.RedriveCount, "1"u8.ToArray() } });
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 2);
        await run.StopAsync();

        run.DeadLetters.Written.Select(w => w.Record.Offset.Value).Should().Equal([0L, 1L], "each failed delivery is in the dead-letter topic: nothing is committed without being handled or dead-lettered");
    }

    [Fact]
    public async Task InterruptedDeadLetterWrite_LookupFailsOnce_IsLookedUpAgainAndNotWrittenTwice()
    {
        var store = new InMemoryDeduplicationStore();
        var crashed = Guid.NewGuid();
        await using var run = EngineRun.Start(o => o.CommitInterval = TimeSpan.FromMilliseconds(20), store: store);
        var record = new ConsumeResult<byte[]?, byte[]?>
        {
            TopicPartitionOffset = new TopicPartitionOffset(P0, 0),
            Message = new Message<byte[]?, byte[]?> { Timestamp = new Timestamp(DateTime.UnixEpoch, TimestampType.CreateTime) },
        };
        var key = new DeduplicationKey("g", Deduplicator.DeliveryOf(record) + "#dead-letter");
        await store.ClaimAsync(key, crashed, TimeSpan.FromMilliseconds(300));
        var started = key with { MessageId = key.MessageId + "-started" };
        await store.ClaimAsync(started, crashed, LongLease);
        await store.CompleteAsync(started, crashed);
        run.DeadLetters.Written.Enqueue((record, new FormatException("written before the crash"), 0));
        run.DeadLetters.FailContains = call => call == 1 ? new KafkaException(ErrorCode.Local_TimedOut) : null;
        run.Handler.IsPoison = r => r.Offset.Value == 0;
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 1);
        await run.StopAsync();

        run.DeadLetters.Lookups.Should().Be(2, "the failed look-up is tried again before any write");
        run.DeadLetters.Written.Should().ContainSingle("the record was written before the crash");
    }

    [Fact]
    public async Task OwnDeadLetterWriteFailsAfterItMayHaveHappened_IsLookedUpBeforeWritingAgain()
    {
        var store = new InMemoryDeduplicationStore();
        await using var run = EngineRun.Start(o => o.CommitInterval = TimeSpan.FromMilliseconds(20), store: store);
        var written = 0;
        run.DeadLetters.FailWrite = call =>
        {
            if (call == 1)
            {
                // Written, but the acknowledgement was lost (message.timeout.ms passed).
                Interlocked.Increment(ref written);
                return new KafkaException(ErrorCode.Local_MsgTimedOut);
            }

            return null;
        };
        run.Handler.IsPoison = r => r.Offset.Value == 0;
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.DeadLetters.Lookups >= 1 || run.DeadLetters.Calls >= 2);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 1);
        await run.StopAsync();

        run.DeadLetters.Lookups.Should().BeGreaterThanOrEqualTo(1, "after a write that may have happened, the topic is read before writing again");
    }

    private static string Unique() => $"g-{Guid.NewGuid():N}";
}
