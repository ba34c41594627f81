using System.Diagnostics;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Delay.Internal;

/// <summary>The delayed delivery's measurements, on the <c>reliablekafka.delay.*</c> instruments of <see cref="ReliableKafkaMetrics"/>.</summary>
internal sealed class DelayMetrics(ReliableKafkaMetrics metrics)
{
    /// <summary>Reports a forwarder's backlog per tier topic in <c>reliablekafka.delay.waiting</c> until the result is disposed.</summary>
    public IDisposable TrackWaiting(Func<IReadOnlyDictionary<string, long>> backlog) => metrics.TrackDelayBacklog(backlog);

    public void Scheduled(string tier) => metrics.DelayScheduled.Add(1, new KeyValuePair<string, object?>("reliablekafka.delay.tier", tier));

    public void Forwarded(string fromTopic, string tier) =>
        metrics.DelayForwarded.Add(1, new TagList { { "messaging.source.name", fromTopic }, { "reliablekafka.delay.tier", tier } });

    public void Delivered(string target, TimeSpan lateness)
    {
        var tag = new KeyValuePair<string, object?>("messaging.destination.name", target);
        metrics.DelayDelivered.Add(1, tag);
        metrics.DelayLateness.Record(lateness.TotalMilliseconds, tag);
    }

    public void Cancelled(string target) => metrics.DelayCancelled.Add(1, new KeyValuePair<string, object?>("messaging.destination.name", target));

    public void CancellationRecorded() => metrics.DelayCancellations.Add(1);
}
