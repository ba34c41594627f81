using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Confluent.Kafka;

namespace ReliableKafka.Tests.Consuming;

/// <summary>In-place retries and failure policies in the engine, against a scripted consumer and dead-letter writer.</summary>
public sealed class FailurePolicyTests
{
    private static readonly TopicPartition P0 = new("orders", 0);

    [Fact]
    public async Task HandlerFailsTwiceThenSucceeds_IsRetriedInPlaceCommittedAndNotDeadLettered()
    {
        var failures = 0;
        await using var run = EngineRun.Start(
            o => Fast(o.Retry),
            (record, _) => record.Offset.Value == 1 && Interlocked.Increment(ref failures) <= 2 ? throw new TimeoutException("flaky") : Task.CompletedTask);
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 3);
        await run.StopAsync();

        run.Handler.Started.Count(r => r.Offset == 1).Should().Be(3, "two failed attempts and the one that succeeded");
        run.Handler.Completed.Select(r => r.Offset).Should().Equal(0, 1, 2);
        run.DeadLetters.Written.Should().BeEmpty();
        run.Kafka.Committed(P0).Should().Be(3);
    }

    [Fact]
    public async Task HandlerAlwaysFails_IsDeadLetteredOnceAfterItsAttemptsAndLaterRecordsOfItsKeyGoOn()
    {
        await using var run = EngineRun.Start(
            o => Fast(o.Retry),
            (record, _) => record.Offset.Value == 1 ? throw new InvalidOperationException("always") : Task.CompletedTask);
        run.Kafka.AddRecords(P0, 4, key: _ => "same-key");
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 3);
        await run.StopAsync();

        run.Handler.Started.Count(r => r.Offset == 1).Should().Be(3);
        run.DeadLetters.Written.Should().ContainSingle();
        var (record, error, attempts) = run.DeadLetters.Written.Single();
        record.Offset.Value.Should().Be(1);
        error.Should().BeOfType<InvalidOperationException>();
        attempts.Should().Be(3);
        run.Handler.Completed.Select(r => r.Offset).Should().Equal([0, 2, 3], "the key's later records go on once the failed one is dead-lettered");
        run.Kafka.Committed(P0).Should().Be(4);
    }

    [Fact]
    public async Task DeadLetterWriteFails_TheRecordStaysUncommittedUntilAWriteIsAcknowledged()
    {
        await using var run = EngineRun.Start(
            o =>
            {
                o.Retry.MaxAttempts = 1;
                o.CommitInterval = TimeSpan.FromMilliseconds(20);
            },
            (record, _) => record.Offset.Value == 1 ? throw new InvalidOperationException("always") : Task.CompletedTask);
        run.DeadLetters.FailWrite = call => call <= 2 ? new KafkaException(ErrorCode.NotEnoughReplicas) : null;
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);

        await run.UntilAsync(() => run.Engine.DeadLetterWritesFailing == 1 && run.Kafka.Committed(P0) == 1);
        await Task.Delay(200); // several commit intervals while the write keeps failing
        var committedWhileFailing = run.Kafka.Committed(P0);
        await run.UntilAsync(() => run.DeadLetters.Written.Count == 1);
        await run.UntilAsync(() => run.Kafka.Committed(P0) == 3);
        await run.StopAsync();

        committedWhileFailing.Should().Be(1, "the failed record is not finished before its dead-letter write is acknowledged");
        run.DeadLetters.Calls.Should().Be(3);
        run.Engine.DeadLetterWritesFailing.Should().Be(0);
    }

    [Fact]
    public async Task RecordThatCannotBeDeserialized_GoesStraightToTheDeadLetterTopicWithoutAttempts()
    {
        await using var run = EngineRun.Start(o => Fast(o.Retry));
        run.Handler.IsPoison = record => record.Offset.Value == 1;
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 2 && run.DeadLetters.Written.Count == 1);
        await run.StopAsync();

        run.Handler.Started.Should().NotContain(r => r.Offset == 1, "the handler never sees bytes that cannot be read");
        var (record, error, attempts) = run.DeadLetters.Written.Single();
        (record.Offset.Value, attempts).Should().Be((1, 0));
        error.Should().BeOfType<MessageDeserializationException>();
        run.Kafka.Committed(P0).Should().Be(3);
    }

    [Fact]
    public async Task AsyncDeserializerThatCannotReachItsRegistry_RecordWaitsReportedUntilItWorksAndNothingIsDeadLettered()
    {
        await using var run = EngineRun.Start(o => Fast(o.Retry));
        var registryDown = 1;
        run.Handler.AsyncDeserializerError = record => record.Offset.Value == 1 && Volatile.Read(ref registryDown) == 1 ? new HttpRequestException("registry unreachable") : null;
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Engine.DeserializerFailing == 1 && run.Handler.Deserializations >= 3);

        run.Handler.Completed.Select(r => r.Offset).Should().Equal([0L], "the key's later record waits behind the one that cannot be read yet");
        run.DeadLetters.Written.Should().BeEmpty("a registry that cannot be reached is no verdict on the record");
        (run.Kafka.Committed(P0) ?? 0).Should().BeLessThanOrEqualTo(1, "nothing at or past the waiting record is committed");
        Volatile.Write(ref registryDown, 0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 3);
        await run.StopAsync();

        run.Engine.DeserializerFailing.Should().Be(0);
        run.DeadLetters.Written.Should().BeEmpty();
        run.Kafka.Committed(P0).Should().Be(3);
    }

    [Fact]
    public async Task AsyncDeserializerFailingForGood_IsPoisonAtOnce()
    {
        await using var run = EngineRun.Start(o => Fast(o.Retry));
        run.Handler.AsyncDeserializerError = record => record.Offset.Value == 0 ? new InvalidDataException("not the registry's wire format") : null;
        run.Kafka.AddRecords(P0, 2);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 1 && run.DeadLetters.Written.Count == 1);
        await run.StopAsync();

        run.Handler.Deserializations.Should().Be(2, "bad bytes are final at once");
        run.DeadLetters.Written.Single().Error.Should().BeOfType<MessageDeserializationException>().Which.InnerException.Should().BeOfType<InvalidDataException>();
    }

    [Theory]
    [InlineData(typeof(HttpRequestException), true)]
    [InlineData(typeof(TimeoutException), true)]
    [InlineData(typeof(System.Net.Sockets.SocketException), true)]
    [InlineData(typeof(IOException), false)]
    [InlineData(typeof(InvalidDataException), false)]
    [InlineData(typeof(EndOfStreamException), false)]
    [InlineData(typeof(FormatException), false)]
    [InlineData(typeof(InvalidOperationException), false)]
    public void IsTransientDeserializationFailureByDefault_NetworkFailuresPassBadBytesDoNot(Type exception, bool transient)
    {
        var error = (Exception)Activator.CreateInstance(exception)!;

        RetryOptions.IsTransientDeserializationFailureByDefault(error).Should().Be(transient);
        RetryOptions.IsTransientDeserializationFailureByDefault(new InvalidOperationException("wrapped", error)).Should().Be(transient, "a wrapped cause counts");
    }

    [Theory]
    [InlineData(System.Net.HttpStatusCode.ServiceUnavailable, true)]
    [InlineData(System.Net.HttpStatusCode.TooManyRequests, true)]
    [InlineData(System.Net.HttpStatusCode.RequestTimeout, true)]
    [InlineData(System.Net.HttpStatusCode.NotFound, false)]
    [InlineData(System.Net.HttpStatusCode.Unauthorized, false)]
    public void IsTransientDeserializationFailureByDefault_HttpErrors_PassOnlyWhenTheServerSaysTryLater(System.Net.HttpStatusCode status, bool transient)
    {
        RetryOptions.IsTransientDeserializationFailureByDefault(new HttpRequestException("failed", null, status)).Should().Be(transient);
        RetryOptions.IsTransientDeserializationFailureByDefault(new RegistryStyleException(status)).Should().Be(transient, "Schema Registry's errors carry their status in a Status property");
    }

    /// <summary>Like Confluent's SchemaRegistryException: an HttpRequestException whose status is in a property of its own.</summary>
    private sealed class RegistryStyleException(System.Net.HttpStatusCode status) : HttpRequestException("registry error")
    {
        public System.Net.HttpStatusCode Status { get; } = status;
    }

    [Fact]
    public async Task NonTransientException_IsNotRetried()
    {
        await using var run = EngineRun.Start(
            o => Fast(o.Retry),
            (record, _) => record.Offset.Value == 0 ? throw new ArgumentException("bad order") : Task.CompletedTask);
        run.Kafka.AddRecords(P0, 2);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.DeadLetters.Written.Count == 1 && run.Handler.Completed.Count == 1);
        await run.StopAsync();

        run.Handler.Started.Count(r => r.Offset == 0).Should().Be(1);
        run.DeadLetters.Written.Single().Attempts.Should().Be(1);
    }

    [Fact]
    public async Task CustomTransientPredicate_DecidesWhatIsRetried()
    {
        await using var run = EngineRun.Start(
            o =>
            {
                Fast(o.Retry);
                o.Retry.IsTransient = e => e is TimeoutException;
            },
            (record, _) => record.Offset.Value == 0 ? throw new InvalidOperationException("not transient here") : Task.CompletedTask);
        run.Kafka.AddRecords(P0, 1);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.DeadLetters.Written.Count == 1);
        await run.StopAsync();

        run.Handler.Started.Should().ContainSingle();
    }

    [Fact]
    public async Task Skip_LogsCountsAndFinishesTheRecordWithoutDeadLettering()
    {
        var group = $"skip-{Guid.NewGuid():N}";
        var counted = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "ReliableKafka")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "messaging.consumer.group.name" && Equals(tag.Value, group))
                {
                    counted.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value);
                }
            }
        });
        listener.Start();
        await using var run = EngineRun.Start(
            o =>
            {
                Fast(o.Retry);
                o.GroupId = group;
                o.FailurePolicy = FailurePolicy.Skip;
            },
            (record, _) => record.Offset.Value == 1 ? throw new InvalidOperationException("always") : Task.CompletedTask);
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Completed.Count == 2);
        await run.StopAsync();

        run.Handler.Started.Count(r => r.Offset == 1).Should().Be(3);
        run.DeadLetters.Calls.Should().Be(0);
        run.Kafka.Committed(P0).Should().Be(3);
        counted.Should().Contain("reliablekafka.consumer.skipped", 1).And.Contain("reliablekafka.consumer.retries", 2);
    }

    [Fact]
    public async Task StopConsumer_CommitsBelowTheRecordLeavesTheGroupAndEndsWithConsumerStoppedException()
    {
        await using var run = EngineRun.Start(
            o =>
            {
                Fast(o.Retry);
                o.FailurePolicy = FailurePolicy.StopConsumer;
            },
            (record, _) => record.Offset.Value == 2 ? throw new InvalidOperationException("fatal for this record") : Task.CompletedTask);
        run.Kafka.AddRecords(P0, 5);
        run.Kafka.Assign(P0);

        var stopped = await FluentActions.Awaiting(() => run.Completion.WaitAsync(TimeSpan.FromSeconds(20)))
            .Should().ThrowAsync<ConsumerStoppedException>();
        stopped.Which.InnerException.Should().BeOfType<InvalidOperationException>();
        stopped.Which.Message.Should().Contain("@2");
        run.Handler.Started.Select(r => r.Offset).Should().NotContain([3, 4]);
        run.Kafka.Committed(P0).Should().Be(2, "everything below the failed record, nothing at or past it");
        run.Kafka.Timeline.Should().Contain("close");
        run.DeadLetters.Calls.Should().Be(0);
    }

    [Fact]
    public async Task PartitionRevokedDuringBackoff_TheRetryIsAbandonedAndNeitherDeadLetteredNorCommitted()
    {
        await using var run = EngineRun.Start(
            o =>
            {
                o.Retry.InitialDelay = TimeSpan.FromMinutes(1);
                o.Retry.MaxDelay = TimeSpan.FromMinutes(1);
                o.RevocationTimeout = TimeSpan.FromMilliseconds(100);
            },
            (record, _) => record.Offset.Value == 1 ? throw new TimeoutException("flaky") : Task.CompletedTask);
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Started.Any(r => r.Offset == 1));

        run.Kafka.Revoke(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("revoke end 0"));
        await Task.Delay(100);
        await run.StopAsync();

        run.Handler.Started.Count(r => r.Offset == 1).Should().Be(1, "the backoff was cut short by the revocation");
        run.DeadLetters.Calls.Should().Be(0);
        run.Kafka.Committed(P0).Should().Be(1);
    }

    [Fact]
    public async Task HandlerThrowingOnceItsWorkIsAbandoned_IsNeitherRetriedNorDeadLetteredNorCommitted()
    {
        await using var run = EngineRun.Start(
            o =>
            {
                Fast(o.Retry);
                o.RevocationTimeout = TimeSpan.FromMilliseconds(100);
            },
            async (record, token) =>
            {
                if (record.Offset.Value == 1)
                {
                    // What a handler whose scope was torn down throws: not a cancellation, but caused by it.
                    await Task.Delay(Timeout.Infinite, token).ContinueWith(_ => throw new ObjectDisposedException("db"), TaskScheduler.Default);
                }
            });
        run.Kafka.AddRecords(P0, 3);
        run.Kafka.Assign(P0);
        await run.UntilAsync(() => run.Handler.Started.Any(r => r.Offset == 1));

        run.Kafka.Revoke(P0);
        await run.UntilAsync(() => run.Kafka.Timeline.Contains("revoke end 0"));
        await Task.Delay(100);
        await run.StopAsync();

        run.Handler.Started.Count(r => r.Offset == 1).Should().Be(1);
        run.DeadLetters.Calls.Should().Be(0, "a failure after the work was abandoned says nothing about the record");
        run.Kafka.Committed(P0).Should().Be(1);
    }

    internal static void Fast(RetryOptions retry)
    {
        retry.MaxAttempts = 3;
        retry.InitialDelay = TimeSpan.FromMilliseconds(1);
        retry.MaxDelay = TimeSpan.FromMilliseconds(5);
    }
}
