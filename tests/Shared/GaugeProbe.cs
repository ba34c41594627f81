using System.Diagnostics.Metrics;

namespace ReliableKafka.TestSupport;

/// <summary>Reads a ReliableKafka gauge for one consumer group (observable instruments are read on demand).</summary>
internal sealed class GaugeProbe : IDisposable
{
    private readonly MeterListener _listener;
    private readonly object _gate = new();
    private long _last;

    public GaugeProbe(string instrument, string group) =>
        _listener = GroupMeasurements.Listen(instrument, group, value =>
        {
            lock (_gate)
            {
                _last = value;
            }
        });

    /// <summary>Observes the gauge now and returns its value for the group (0 when it reported none).</summary>
    public long Read()
    {
        lock (_gate)
        {
            _last = 0;
        }

        _listener.RecordObservableInstruments();
        lock (_gate)
        {
            return _last;
        }
    }

    public void Dispose() => _listener.Dispose();
}
