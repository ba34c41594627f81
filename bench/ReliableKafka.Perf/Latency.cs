using System.Diagnostics;

namespace ReliableKafka.Perf;

/// <summary>Latency figures in milliseconds, as kafka-producer-perf-test prints them.</summary>
internal sealed record Latency(double AverageMs, double MaxMs, double P50Ms, double P95Ms, double P99Ms, double P999Ms)
{
    public static Latency FromTicks(long[] ticks, int count)
    {
        if (count == 0)
        {
            return new Latency(0, 0, 0, 0, 0, 0);
        }

        var sorted = ticks.AsSpan(0, count).ToArray();
        Array.Sort(sorted);
        double Ms(long t) => t * 1000.0 / Stopwatch.Frequency;
        double Percentile(double p) => Ms(sorted[Math.Min(count - 1, (int)Math.Ceiling(p * count) - 1)]);
        var sum = 0.0;
        foreach (var t in sorted)
        {
            sum += Ms(t);
        }

        return new Latency(sum / count, Ms(sorted[^1]), Percentile(0.50), Percentile(0.95), Percentile(0.99), Percentile(0.999));
    }
}
