using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ReliableKafka.Delay.Internal;

/// <summary>The delayed delivery's instruments, on the <c>ReliableKafka</c> meter.</summary>
internal static class DelayMetrics
{
    private static readonly Meter Meter = Diagnostics.Internal.ConsumerMetrics.Meter;

    private static readonly Counter<long> ScheduledCount = Meter.CreateCounter<long>(
        "reliablekafka.delay.scheduled", "{message}", "Messages scheduled (acknowledged in a delay tier, or in the target when due already).");

    private static readonly Counter<long> ForwardedCount = Meter.CreateCounter<long>(
        "reliablekafka.delay.forwarded", "{record}", "Records moved from one delay tier to the next.");

    private static readonly Counter<long> DeliveredCount = Meter.CreateCounter<long>(
        "reliablekafka.delay.delivered", "{message}", "Scheduled messages delivered to their target topic.");

    private static readonly Counter<long> CancelledCount = Meter.CreateCounter<long>(
        "reliablekafka.delay.cancelled", "{message}", "Scheduled messages dropped because they were cancelled.");

    private static readonly Counter<long> CancellationsCount = Meter.CreateCounter<long>(
        "reliablekafka.delay.cancellations", "{cancellation}", "Cancellations recorded.");

    private static readonly Histogram<double> LatenessMs = Meter.CreateHistogram<double>(
        "reliablekafka.delay.lateness", "ms", "Delivery time minus due time of delivered messages.");

    private static readonly List<Func<IReadOnlyDictionary<string, long>>> WaitingSources = [];

    private static readonly ObservableGauge<long> WaitingGauge = Meter.CreateObservableGauge(
        "reliablekafka.delay.waiting", ObserveWaiting, "{record}", "Records in each delay tier topic that this process's forwarder has not moved on yet (its partitions only).");

    /// <summary>Reports a forwarder's backlog per tier topic in <c>reliablekafka.delay.waiting</c> until the result is disposed.</summary>
    public static IDisposable TrackWaiting(Func<IReadOnlyDictionary<string, long>> backlog)
    {
        _ = WaitingGauge;
        lock (WaitingSources)
        {
            WaitingSources.Add(backlog);
        }

        return new Untrack(backlog);
    }

    public static void Scheduled(string tier) => ScheduledCount.Add(1, new KeyValuePair<string, object?>("reliablekafka.delay.tier", tier));

    public static void Forwarded(string fromTopic, string tier) =>
        ForwardedCount.Add(1, new TagList { { "messaging.source.name", fromTopic }, { "reliablekafka.delay.tier", tier } });

    public static void Delivered(string target, TimeSpan lateness)
    {
        var tag = new KeyValuePair<string, object?>("messaging.destination.name", target);
        DeliveredCount.Add(1, tag);
        LatenessMs.Record(lateness.TotalMilliseconds, tag);
    }

    public static void Cancelled(string target) => CancelledCount.Add(1, new KeyValuePair<string, object?>("messaging.destination.name", target));

    public static void CancellationRecorded() => CancellationsCount.Add(1);

    private static IEnumerable<Measurement<long>> ObserveWaiting()
    {
        List<Func<IReadOnlyDictionary<string, long>>> sources;
        lock (WaitingSources)
        {
            sources = [.. WaitingSources];
        }

        return sources.SelectMany(source => source()).GroupBy(b => b.Key, StringComparer.Ordinal)
            .Select(g => new Measurement<long>(g.Sum(b => b.Value), new KeyValuePair<string, object?>("messaging.destination.name", g.Key)))
            .ToList();
    }

    private sealed class Untrack(Func<IReadOnlyDictionary<string, long>> backlog) : IDisposable
    {
        public void Dispose()
        {
            lock (WaitingSources)
            {
                WaitingSources.Remove(backlog);
            }
        }
    }
}
