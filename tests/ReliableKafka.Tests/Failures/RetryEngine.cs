using Microsoft.Extensions.Logging.Abstractions;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Deduplication.Internal;
using ReliableKafka.Failures.Internal;
using ReliableKafka.Failures.Internal.Retry;
using ReliableKafka.Tests.Consuming;

namespace ReliableKafka.Tests.Failures;

/// <summary>A consumer engine with FailurePolicy.RetryTopic on the fake cluster (group <c>g</c>, topic <c>orders</c>), without a parking reader.</summary>
internal static class RetryEngine
{
    public static ConsumerOptions Options(int metadataKeys, TimeSpan backoff)
    {
        var options = new ConsumerOptions
        {
            GroupId = "g",
            CommitInterval = TimeSpan.FromMilliseconds(100),
            ShutdownTimeout = TimeSpan.FromSeconds(2),
            RevocationTimeout = TimeSpan.FromSeconds(2),
        };
        options.Topics.Add("orders");
        options.FailurePolicy = FailurePolicy.RetryTopic;
        options.RetryTopic.Backoffs.Add(backoff);
        options.RetryTopic.MaxParkedKeysPerPartition = metadataKeys;
        options.Retry.MaxAttempts = 1;
        return options;
    }

    /// <summary>The engine; releases are written through <paramref name="writer"/> and applied locally (no reader thread).</summary>
    public static ConsumerEngine Create(FakeKafka kafka, ScriptedHandler handler, ConsumerOptions options, IDeadLetterWriter writer, Deduplicator? dedup = null)
    {
        var config = KafkaClientConfigBuilder.BuildConsumer(new ReliableKafkaOptions { BootstrapServers = "fake:9092" }, "test", options).ThrowIfInvalid();
        var levels = new RetryLevels(options.GroupId!, options.Topics, options.RetryTopic.EffectiveBackoffs);
        var parking = new ParkingLog("g.parking", "g", [], _ => throw new InvalidOperationException("no parking reader in these tests"), writer, "test", NullLogger.Instance, TimeProvider.System);
        return new ConsumerEngine(
            config, options, handler, NullLoggerFactory.Instance, TimeProvider.System,
            settings => new FakeConsumerBuilder(kafka, settings), new FakeGroupOffsetStore(kafka), writer, dedup, null, levels, parking);
    }

    public static async Task Until(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
    }
}
