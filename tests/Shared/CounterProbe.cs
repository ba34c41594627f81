using System.Diagnostics.Metrics;

namespace ReliableKafka.TestSupport;

/// <summary>Sums a ReliableKafka counter's measurements for one consumer group (the tag tells tests apart).</summary>
internal sealed class CounterProbe : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _total;

    public CounterProbe(string instrument, string group)
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == "ReliableKafka" && i.Name == instrument)
            {
                l.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "messaging.consumer.group.name" && (string?)tag.Value == group)
                {
                    Interlocked.Add(ref _total, value);
                }
            }
        });
        _listener.Start();
    }

    public long Total => Interlocked.Read(ref _total);

    public void Dispose() => _listener.Dispose();
}
