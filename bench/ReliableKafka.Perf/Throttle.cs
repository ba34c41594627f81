using System.Diagnostics;

namespace ReliableKafka.Perf;

/// <summary>Caps the send rate at a number of records per second (negative: no cap), like Kafka's ThroughputThrottler.</summary>
internal sealed class Throttle(long recordsPerSecond)
{
    private readonly long _start = Stopwatch.GetTimestamp();

    public void WaitFor(long sent)
    {
        if (recordsPerSecond <= 0)
        {
            return;
        }

        var due = _start + (long)(sent * (double)Stopwatch.Frequency / recordsPerSecond);
        while (true)
        {
            var ahead = due - Stopwatch.GetTimestamp();
            if (ahead <= 0)
            {
                return;
            }

            if (ahead > Stopwatch.Frequency / 500)
            {
                Thread.Sleep(1);
            }
            else
            {
                Thread.SpinWait(50);
            }
        }
    }
}
