using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace ReliableKafka.Diagnostics.Internal;

/// <summary>
/// Every instrument of the library, on one <see cref="Meter"/> named <see cref="ReliableKafkaDiagnostics.MeterName"/>,
/// created by the application's <see cref="IMeterFactory"/> (so a test's or host's collectors see only their own
/// container's measurements), or owned here when there is none. The messaging ones follow OpenTelemetry's semantic
/// conventions (<c>messaging.client.sent.messages</c>, <c>messaging.client.consumed.messages</c>,
/// <c>messaging.process.duration</c>, <c>messaging.client.operation.duration</c>); the rest are ReliableKafka's own,
/// named <c>reliablekafka.*</c>. Observable gauges read the consumers registered with <see cref="Track"/> when collected.
/// </summary>
internal sealed class ReliableKafkaMetrics : IDisposable
{
    // OpenTelemetry's advice for messaging durations (seconds).
    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private static readonly string[] PartitionIds = [.. Enumerable.Range(0, 256).Select(i => i.ToString(CultureInfo.InvariantCulture))];

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly List<ObservedConsumer> _consumers = [];
    private readonly List<Func<IReadOnlyDictionary<string, long>>> _delayBacklogs = [];

    // The gauges of one collection read one status per consumer (each instrument's callback would otherwise take its own).
    private static readonly TimeSpan StatusReuse = TimeSpan.FromMilliseconds(500);
    private readonly TimeProvider _time;
    private List<(ObservedConsumer Consumer, ConsumerStatus Status)>? _lastRead;
    private long _lastReadAt;

    /// <summary>Creates the instruments on a meter of <paramref name="meterFactory"/>, or on a meter of their own when it is null.</summary>
    /// <param name="meterFactory">The application's meter factory, or null.</param>
    public ReliableKafkaMetrics(IMeterFactory? meterFactory)
    {
        // The reuse of a status is about the collector's calls, real time even under a test's fake clock.
        _time = TimeProvider.System;
        var version = typeof(ReliableKafkaMetrics).Assembly.GetName().Version?.ToString();
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(new MeterOptions(ReliableKafkaDiagnostics.MeterName) { Version = version })
            ?? new Meter(ReliableKafkaDiagnostics.MeterName, version);

        SentMessages = _meter.CreateCounter<long>("messaging.client.sent.messages", "{message}", "Messages the producer attempted to send to the broker (error.type set for those that failed).");
        OperationDuration = Duration("messaging.client.operation.duration", "Duration of sends (until acknowledged) and offset commits (until their result came).");
        ConsumedMessages = _meter.CreateCounter<long>("messaging.client.consumed.messages", "{message}", "Records fetched and handed to the consumer's pipeline.");
        ProcessDuration = Duration("messaging.process.duration", "Duration of processing a record: deserialization, deduplication, handler attempts and in-place retries, failure policy.");
        Rebalances = _meter.CreateCounter<long>("reliablekafka.consumer.rebalances", "{rebalance}", "Partitions assigned, revoked or lost (reliablekafka.rebalance.kind), one count per callback.");
        CommitFailures = _meter.CreateCounter<long>("reliablekafka.consumer.commit_failures", "{commit}", "Offset commits that failed (error.type); a failed commit is retried or its offsets are committed later.");
        Retries = _meter.CreateCounter<long>("reliablekafka.consumer.retries", "{attempt}", "Handler attempts that failed and were tried again.");
        DeadLettered = _meter.CreateCounter<long>("reliablekafka.consumer.dead_lettered", "{record}", "Records written to a dead-letter topic (acknowledged).");
        Skipped = _meter.CreateCounter<long>("reliablekafka.consumer.skipped", "{record}", "Records that failed and were skipped (FailurePolicy.Skip).");
        DeadLetterWriteFailures = _meter.CreateCounter<long>("reliablekafka.consumer.dead_letter_write_failures", "{write}", "Dead-letter writes that failed and are tried again.");
        DuplicatesSuppressed = _meter.CreateCounter<long>("reliablekafka.consumer.duplicates_suppressed", "{record}", "Records processed before (found in the deduplication store) whose handler was not run again.");
        DeduplicationStoreFailures = _meter.CreateCounter<long>("reliablekafka.consumer.deduplication_store_failures", "{call}", "Deduplication store calls that failed; the record waits and is tried again.");
        PossibleDuplicates = _meter.CreateCounter<long>("reliablekafka.consumer.possible_duplicates", "{record}", "Handled records whose deduplication claim another owner had taken over (its lease expired) before the completion was recorded: that owner may have handled them too.");
        Retried = _meter.CreateCounter<long>("reliablekafka.consumer.retried", "{record}", "Failed records sent to a retry topic (acknowledged); tagged with the retry topic.");
        Followed = _meter.CreateCounter<long>("reliablekafka.consumer.parked_followers", "{record}", "Records sent to a retry topic behind a failed record of their key (their key was parked); tagged with the retry topic.");

        _meter.CreateObservableGauge("reliablekafka.consumer.lag", () => PerPartition(p => p.Lag), "{record}", "Records of each assigned partition beyond its committed offset (librdkafka's last known end offset minus the committed offset).");
        _meter.CreateObservableGauge("reliablekafka.consumer.finished_beyond_watermark", () => PerPartition(p => p.FinishedBeyondWatermark), "{record}", "Records of each assigned partition that finished beyond its watermark (the lowest unfinished record, where commits stop); kept in the commit metadata.");
        _meter.CreateObservableGauge("reliablekafka.consumer.buffered", () => PerPartition(p => p.Buffered), "{record}", "Records of each assigned partition taken and not finished (queued or running).");
        _meter.CreateObservableGauge("reliablekafka.consumer.running", () => PerPartition(p => p.Running), "{record}", "Records of each assigned partition whose handler is running.");
        _meter.CreateObservableGauge("reliablekafka.consumer.paused_partitions", () => PerConsumer(c => c.Partitions.Count(p => p.Paused)), "{partition}", "Assigned partitions that take no records for now (paused by backpressure, held, or stopped by a failed record).");
        _meter.CreateObservableGauge("reliablekafka.consumer.oldest_running_age", ObserveOldestRunning, "s", "Age of the handler that has been running longest (0 when none runs).");
        _meter.CreateObservableGauge("reliablekafka.consumer.parked_keys", () => PerConsumer(c => c.ParkedKeys), "{key}", "Keys parked on this member's partitions (their records follow a failed record through the retry topics).");
        _meter.CreateObservableGauge("reliablekafka.consumer.parked_records", () => PerConsumer(c => c.ParkedRecords), "{record}", "Records this member sent to retry topics behind parked keys that are still parked.");

        DelayScheduled = _meter.CreateCounter<long>("reliablekafka.delay.scheduled", "{message}", "Messages scheduled (acknowledged in a delay tier, or in the target when due already).");
        DelayForwarded = _meter.CreateCounter<long>("reliablekafka.delay.forwarded", "{record}", "Records moved from one delay tier to the next.");
        DelayDelivered = _meter.CreateCounter<long>("reliablekafka.delay.delivered", "{message}", "Scheduled messages delivered to their target topic.");
        DelayCancelled = _meter.CreateCounter<long>("reliablekafka.delay.cancelled", "{message}", "Scheduled messages dropped because they were cancelled.");
        DelayCancellations = _meter.CreateCounter<long>("reliablekafka.delay.cancellations", "{cancellation}", "Cancellations recorded.");
        DelayLateness = _meter.CreateHistogram<double>("reliablekafka.delay.lateness", "ms", "Delivery time minus due time of delivered messages.");
        _meter.CreateObservableGauge("reliablekafka.delay.waiting", ObserveDelayBacklog, "{record}", "Records in each delay tier topic that this process's forwarder has not moved on yet (its partitions only).");
    }

    private static readonly Lazy<ReliableKafkaMetrics> SharedInstance = new(() => new ReliableKafkaMetrics(null));

    /// <summary>Gets the instruments of engines and producers built without a container (tests, tools); created on first use, never disposed.</summary>
    public static ReliableKafkaMetrics Shared => SharedInstance.Value;

    public Counter<long> SentMessages { get; }

    public Histogram<double> OperationDuration { get; }

    public Counter<long> ConsumedMessages { get; }

    public Histogram<double> ProcessDuration { get; }

    public Counter<long> Rebalances { get; }

    public Counter<long> CommitFailures { get; }

    public Counter<long> Retries { get; }

    public Counter<long> DeadLettered { get; }

    public Counter<long> Skipped { get; }

    public Counter<long> DeadLetterWriteFailures { get; }

    public Counter<long> DuplicatesSuppressed { get; }

    public Counter<long> DeduplicationStoreFailures { get; }

    public Counter<long> PossibleDuplicates { get; }

    public Counter<long> Retried { get; }

    public Counter<long> Followed { get; }

    public Counter<long> DelayScheduled { get; }

    public Counter<long> DelayForwarded { get; }

    public Counter<long> DelayDelivered { get; }

    public Counter<long> DelayCancelled { get; }

    public Counter<long> DelayCancellations { get; }

    public Histogram<double> DelayLateness { get; }

    /// <summary>The text of a partition id (cached for the usual ones).</summary>
    public static string PartitionId(int partition) =>
        (uint)partition < (uint)PartitionIds.Length ? PartitionIds[partition] : partition.ToString(CultureInfo.InvariantCulture);

    /// <summary>Gets the instruments of one consumer, which tag every measurement with its name and group.</summary>
    public ConsumerInstruments ForConsumer(string name, string groupId) => new(this, name, groupId);

    /// <summary>Records a message the producer attempted to send: counted, and the send's duration until its result (error.type when it failed).</summary>
    public void Sent(string topic, int? partition, TimeSpan elapsed, string? errorType)
    {
        if (!SentMessages.Enabled && !OperationDuration.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { "messaging.system", "kafka" },
            { "messaging.operation.name", "send" },
            { "messaging.operation.type", "send" },
            { "messaging.destination.name", topic },
        };
        if (partition is { } p)
        {
            tags.Add("messaging.destination.partition.id", PartitionId(p));
        }

        if (errorType is not null)
        {
            tags.Add("error.type", errorType);
        }

        try
        {
            SentMessages.Add(1, tags);
            OperationDuration.Record(elapsed.TotalSeconds, tags);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // An application's MeterListener that throws costs the measurement, never the message.
        }
    }

    /// <summary>Reports a consumer's state to the observable gauges until the result is disposed.</summary>
    public IDisposable Track(string name, string groupId, Func<ConsumerStatus> read)
    {
        var consumer = new ObservedConsumer(name, groupId, read);
        lock (_consumers)
        {
            _consumers.Add(consumer);
            _lastRead = null;
        }

        return new Registration(() =>
        {
            lock (_consumers)
            {
                _consumers.Remove(consumer);
                _lastRead = null;
            }
        });
    }

    /// <summary>Reports a forwarder's backlog per tier topic in <c>reliablekafka.delay.waiting</c> until the result is disposed.</summary>
    public IDisposable TrackDelayBacklog(Func<IReadOnlyDictionary<string, long>> backlog)
    {
        lock (_delayBacklogs)
        {
            _delayBacklogs.Add(backlog);
        }

        return new Registration(() =>
        {
            lock (_delayBacklogs)
            {
                _delayBacklogs.Remove(backlog);
            }
        });
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private Histogram<double> Duration(string name, string description) =>
#if NET9_0_OR_GREATER
        _meter.CreateHistogram<double>(name, "s", description, tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
#else
        _meter.CreateHistogram<double>(name, "s", description);
#endif

    private List<(ObservedConsumer Consumer, ConsumerStatus Status)> Read()
    {
        lock (_consumers)
        {
            if (_lastRead is { } last && _time.GetElapsedTime(_lastReadAt) < StatusReuse)
            {
                return last;
            }

            var read = _consumers.Select(c => (c, c.Read())).ToList();
            (_lastRead, _lastReadAt) = (read, _time.GetTimestamp());
            return read;
        }
    }

    private List<Measurement<long>> PerPartition(Func<PartitionSnapshot, long?> value)
    {
        var measurements = new List<Measurement<long>>();
        foreach (var (consumer, status) in Read())
        {
            foreach (var partition in status.Partitions)
            {
                if (value(partition) is { } v)
                {
                    measurements.Add(new Measurement<long>(v, new TagList
                    {
                        { "reliablekafka.consumer.name", consumer.Name },
                        { "messaging.consumer.group.name", consumer.GroupId },
                        { "messaging.destination.name", partition.Topic },
                        { "messaging.destination.partition.id", PartitionId(partition.Partition) },
                    }));
                }
            }
        }

        return measurements;
    }

    private List<Measurement<long>> PerConsumer(Func<ConsumerStatus, long> value) =>
        [.. Read().Select(r => new Measurement<long>(value(r.Status), r.Consumer.Tags))];

    private List<Measurement<double>> ObserveOldestRunning() =>
        [.. Read().Select(r => new Measurement<double>(r.Status.OldestRunning?.TotalSeconds ?? 0, r.Consumer.Tags))];

    private List<Measurement<long>> ObserveDelayBacklog()
    {
        List<Func<IReadOnlyDictionary<string, long>>> sources;
        lock (_delayBacklogs)
        {
            sources = [.. _delayBacklogs];
        }

        return [.. sources.SelectMany(source => source()).GroupBy(b => b.Key, StringComparer.Ordinal)
            .Select(g => new Measurement<long>(g.Sum(b => b.Value), new KeyValuePair<string, object?>("messaging.destination.name", g.Key)))];
    }

    private sealed record ObservedConsumer(string Name, string GroupId, Func<ConsumerStatus> Read)
    {
        public TagList Tags { get; } = new() { { "reliablekafka.consumer.name", Name }, { "messaging.consumer.group.name", GroupId } };
    }

    private sealed class Registration(Action remove) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                remove();
            }
        }
    }
}
