using Microsoft.Extensions.Logging;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>What every part of one consumer's engine shares and nothing changes while it runs: settings, loggers, clock.</summary>
internal sealed class EngineContext(
    KafkaClientConfig config,
    ConsumerOptions options,
    ILoggerFactory loggerFactory,
    TimeProvider time,
    IRecordGate? gate = null,
    Failures.Internal.Retry.RetryLevels? retries = null,
    Failures.Internal.Retry.ParkingLog? parking = null,
    ReliableKafkaMetrics? metrics = null)
{
    /// <summary>Gets the rule that holds records until they are due, or null (every record may be taken at once).</summary>
    public IRecordGate? Gate { get; } = gate ?? (retries is null ? null : new Failures.Internal.Retry.RetryGate(retries));

    /// <summary>Gets the consumer's retry topics (<see cref="FailurePolicy.RetryTopic"/>), or null.</summary>
    public Failures.Internal.Retry.RetryLevels? Retries { get; } = retries;

    /// <summary>Gets the parking topic that releases parked keys (<see cref="KeyOrderOnFailure.Park"/>), or null when keys do not park.</summary>
    public Failures.Internal.Retry.ParkingLog? Parking { get; } = options.OrderingMode == OrderingMode.None || retries is null ? null : parking;

    /// <summary>Gets the topics the consumer subscribes to: its own, and its retry topics.</summary>
    public IReadOnlyList<string> Subscription { get; } = retries is null ? options.Topics : [.. options.Topics, .. retries.Topics];

    /// <summary>Gets the consumer's librdkafka settings.</summary>
    public KafkaClientConfig Config { get; } = config;

    /// <summary>Gets the consumer's options.</summary>
    public ConsumerOptions Options { get; } = options;

    /// <summary>Gets the consumer's name.</summary>
    public string Name => Config.Name;

    /// <summary>Gets the consumer group.</summary>
    public string GroupId => Options.GroupId!;

    /// <summary>Gets a value indicating whether the consumer runs AtMostOnce (offsets committed before records are handled).</summary>
    public bool AtMostOnce { get; } = config.Guarantee == DeliveryGuarantee.AtMostOnce;

    /// <summary>Gets the consumer's instruments (tagged with its name and group).</summary>
    public ConsumerInstruments Metrics { get; } = (metrics ?? ReliableKafkaMetrics.Shared).ForConsumer(config.Name, options.GroupId!);

    /// <summary>Gets the consumer's logger.</summary>
    public ILogger Logger { get; } = loggerFactory.CreateLogger(Log.ConsumerCategory);

    /// <summary>Gets the logger of librdkafka's own lines.</summary>
    public ILogger LibrdkafkaLogger { get; } = loggerFactory.CreateLogger(Log.LibrdkafkaCategory);

    /// <summary>Gets the clock of intervals, budgets and leases.</summary>
    public TimeProvider Time { get; } = time;

    /// <summary>What is left of <paramref name="budget"/> since <paramref name="started"/> (a timestamp), never negative.</summary>
    public TimeSpan Remaining(TimeSpan budget, long started)
    {
        var remaining = budget - Time.GetElapsedTime(started);
        return remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
    }
}
