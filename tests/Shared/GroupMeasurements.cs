using System.Diagnostics.Metrics;

namespace ReliableKafka.TestSupport;

/// <summary>Listens to one ReliableKafka instrument and passes on the values it records for one consumer group.</summary>
internal static class GroupMeasurements
{
    public static MeterListener Listen(string instrument, string group, Action<long> measured)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == "ReliableKafka" && i.Name == instrument)
                {
                    l.EnableMeasurementEvents(i);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "messaging.consumer.group.name" && (string?)tag.Value == group)
                {
                    measured(value);
                }
            }
        });
        listener.Start();
        return listener;
    }
}
