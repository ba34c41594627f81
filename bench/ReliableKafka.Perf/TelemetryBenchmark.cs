using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace ReliableKafka.Perf;

/// <summary>What the telemetry command runs.</summary>
internal sealed record TelemetrySettings(int Records, int RecordSize, int Partitions, int Keys);

/// <summary>
/// The consume benchmark with OpenTelemetry listening to ReliableKafka's activity source and meter, and without,
/// alternating in the same run. With: a tracer provider that samples every span and hands it to a batch processor
/// and an exporter (which counts and drops, so memory stays flat), and a meter provider with a periodic reader and
/// the in-memory exporter, every second; every record carries a W3C traceparent, so each process span has a parent.
/// Without: nobody listens (the library then creates no span and records no measurement). The ratio is the cost of
/// tracing and metrics on the no-op consume workload, where it weighs most.
/// </summary>
internal static class TelemetryBenchmark
{
    public static async Task<Comparison> RunAsync(PerfCluster cluster, TelemetrySettings telemetry, int rounds)
    {
        var settings = new ConsumeSettings(telemetry.Records, telemetry.RecordSize, telemetry.Partitions);
        var topic = cluster.CreateTopic(null, "perf-telemetry", settings.Partitions);
        Console.WriteLine($"telemetry: filling '{topic}' with {settings.Records} records ({settings.RecordSize} B, a traceparent each, {telemetry.Keys} keys) over {settings.Partitions} partitions, then {rounds} round(s) with OpenTelemetry listening alternating with nobody listening");
        ConsumeBenchmark.Fill(cluster, topic, settings, withMessageIds: true, keys: telemetry.Keys, withTraceParent: true);

        var comparison = new Comparison("telemetry", "tracing+metrics", "on", "off");
        string[] clients = ["on", "off"];
        for (var round = 0; round <= rounds; round++)
        {
            foreach (var client in clients.Skip(round % 2).Concat(clients.Take(round % 2)))
            {
                var exported = new CountingExporter();
                var metrics = new List<Metric>();
                var tracing = client == "on"
                    ? Sdk.CreateTracerProviderBuilder()
                        .AddSource(ReliableKafkaDiagnostics.ActivitySourceName)
                        .SetSampler(new AlwaysOnSampler())
                        .AddProcessor(new BatchActivityExportProcessor(exported))
                        .Build()
                    : null;
                var metering = client == "on"
                    ? Sdk.CreateMeterProviderBuilder()
                        .AddMeter(ReliableKafkaDiagnostics.MeterName)
                        .AddInMemoryExporter(metrics, o => o.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 1000)
                        .Build()
                    : null;
                ConsumeRun run;
                try
                {
                    run = await ConsumeBenchmark.RunReliableAsync(cluster, topic, settings, round, client);
                }
                finally
                {
                    tracing?.Dispose();
                    metering?.Dispose();
                }

                var seen = client == "on" ? $"; {exported.Count} spans exported, {metrics.Select(m => m.Name).Distinct().Count()} instruments" : string.Empty;
                Console.WriteLine($"  {(round == 0 ? "warm-up" : $"round {round}")} {run.Client,-4} {run.Describe()}{seen}");
                if (round > 0)
                {
                    comparison.Add(run.Client, run.RecordsPerSecond, run);
                }
            }
        }

        return comparison;
    }

    /// <summary>An exporter that counts the spans it gets and keeps none.</summary>
    private sealed class CountingExporter : BaseExporter<Activity>
    {
        private long _count;

        public long Count => Interlocked.Read(ref _count);

        public override ExportResult Export(in Batch<Activity> batch)
        {
            Interlocked.Add(ref _count, batch.Count);
            return ExportResult.Success;
        }
    }
}
