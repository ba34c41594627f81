using System.Diagnostics.Metrics;

namespace ReliableKafka.TestSupport;

/// <summary>Sums a ReliableKafka counter's measurements for one consumer group (the tag tells tests apart).</summary>
internal sealed class CounterProbe : IDisposable
{
    private readonly MeterListener _listener;
    private long _total;

    public CounterProbe(string instrument, string group) =>
        _listener = GroupMeasurements.Listen(instrument, group, value => Interlocked.Add(ref _total, value));

    public long Total => Interlocked.Read(ref _total);

    public void Dispose() => _listener.Dispose();
}
