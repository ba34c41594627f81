using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ReliableKafka.Perf;

/// <summary>What the retry command runs (its options).</summary>
/// <param name="Records">Records per run.</param>
/// <param name="Keys">Distinct keys, round robin.</param>
/// <param name="Partitions">Partitions of the topic (and of its retry topic).</param>
/// <param name="Work">Async work (Task.Delay) per handled record.</param>
/// <param name="FailingPerMille">Records per thousand whose first attempt fails.</param>
/// <param name="Backoff">The wait before a failed record is tried again, in place or through the retry topic.</param>
/// <param name="MaxConcurrency">The consumer's MaxConcurrency.</param>
internal sealed record RetrySettings(int Records, int Keys, int Partitions, TimeSpan Work, int FailingPerMille, TimeSpan Backoff, int MaxConcurrency);

/// <summary>One run: an ordering mode and a way of retrying.</summary>
/// <param name="Ordering">The ordering mode.</param>
/// <param name="Policy">in-place or retry-topic.</param>
/// <param name="Records">Records handled.</param>
/// <param name="Failed">Records whose first attempt failed.</param>
/// <param name="Seconds90">Seconds from the first record handled until 90% were.</param>
/// <param name="Seconds">Seconds from the first record handled until the last one was.</param>
/// <param name="RecordsPerSecond">90% of the records over <paramref name="Seconds90"/>: how fast records flow while some wait for their retry.</param>
/// <param name="Duplicates">Records handled twice.</param>
internal sealed record RetryRun(string Ordering, string Policy, int Records, int Failed, double Seconds90, double Seconds, double RecordsPerSecond, int Duplicates)
{
    public string Line(double? inPlace) => string.Create(
        CultureInfo.InvariantCulture,
        $"retry ordering={Ordering} policy={Policy} records={Records} failed_once={Failed} throughput={RecordsPerSecond:0}/s{(inPlace is { } basis ? $" vs_in_place={RecordsPerSecond / basis:0.0}x" : string.Empty)} seconds_to_90%={Seconds90:0.0} seconds_to_all={Seconds:0.0}{(Duplicates > 0 ? $" duplicates={Duplicates}" : string.Empty)}");
}

/// <summary>
/// A few records fail once: in-place retries (Retry with the backoff, FailurePolicy.DeadLetter) against retry topics
/// (FailurePolicy.RetryTopic with the same backoff, keys parked), in Key and in Partition ordering; and under Partition
/// ordering also retry topics whose keys go on (KeyOrderOnFailure.GoOn: nothing waits, order is not kept). Each run reads a topic of
/// its own, filled with the same records. Throughput is 90% of the records over the time from the first record handled until
/// 90% were: how fast the records flow while the failed ones (and, keeping order, their keys' later records) wait.
/// </summary>
internal static class RetryBenchmark
{
    public static async Task<List<RetryRun>> RunAsync(PerfCluster cluster, RetrySettings settings)
    {
        var runs = new List<RetryRun>();
        (OrderingMode Ordering, bool RetryTopic, KeyOrderOnFailure KeyOrder)[] variants =
        [
            (OrderingMode.Key, false, KeyOrderOnFailure.Park),
            (OrderingMode.Key, true, KeyOrderOnFailure.Park),
            (OrderingMode.Partition, false, KeyOrderOnFailure.Park),
            (OrderingMode.Partition, true, KeyOrderOnFailure.Park),
            (OrderingMode.Partition, true, KeyOrderOnFailure.GoOn),
        ];
        foreach (var (ordering, retryTopic, keyOrder) in variants)
        {
            {
                var topic = cluster.CreateTopic(null, "perf-retry", settings.Partitions);
                var group = $"perf-retry-{Guid.NewGuid():N}";
                if (retryTopic)
                {
                    cluster.CreateTopic(RetryTopicOptions.TopicFor(group, topic, settings.Backoff), "unused", settings.Partitions);
                    cluster.CreateTopic(group + RetryTopicOptions.DefaultParkingTopicSuffix, "unused", 3);
                }

                cluster.CreateTopic(topic + DeadLetterOptions.DefaultTopicSuffix, "unused", 1);
                EngineBenchmark.Fill(cluster, topic, new EngineSettings(settings.Records, settings.Keys, settings.Partitions, settings.Work, settings.MaxConcurrency));
                var run = await RunOnceAsync(cluster, topic, group, settings, ordering, retryTopic, keyOrder);
                Console.WriteLine($"  {run.Line(null)}");
                runs.Add(run);
            }
        }

        return runs;
    }

    private static async Task<RetryRun> RunOnceAsync(
        PerfCluster cluster, string topic, string group, RetrySettings settings, OrderingMode ordering, bool retryTopic, KeyOrderOnFailure keyOrder)
    {
        var probe = new Probe(settings);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(probe);
        builder.Services.AddReliableKafka(o => o.BootstrapServers = cluster.BootstrapServers)
            .AddConsumer<byte[]?, byte[]?, FailingOnceHandler>("perf", o =>
            {
                o.GroupId = group;
                o.Topics.Add(topic);
                o.OrderingMode = ordering;
                o.MaxConcurrency = settings.MaxConcurrency;
                o.FetchWaitMax = TimeSpan.FromMilliseconds(50);
                if (retryTopic)
                {
                    o.FailurePolicy = FailurePolicy.RetryTopic;
                    o.Retry.MaxAttempts = 1;
                    o.RetryTopic.Backoffs.Add(settings.Backoff);
                    o.RetryTopic.KeyOrder = keyOrder;
                }
                else
                {
                    o.Retry.MaxAttempts = 2;
                    o.Retry.InitialDelay = settings.Backoff;
                    o.Retry.MaxDelay = settings.Backoff;
                }
            });
        using var host = builder.Build();
        await host.StartAsync();
        await probe.Done.Task.WaitAsync(TimeSpan.FromMinutes(15));
        await host.StopAsync();

        var seconds = (probe.LastAt - probe.FirstAt) / (double)Stopwatch.Frequency;
        var seconds90 = (probe.NinetyAt - probe.FirstAt) / (double)Stopwatch.Frequency;
        var policy = !retryTopic ? "in-place" : keyOrder == KeyOrderOnFailure.Park ? "retry-topic" : "retry-topic-go-on";
        return new RetryRun(
            ordering.ToString().ToLowerInvariant(), policy, settings.Records, probe.Failed, seconds90, seconds, 0.9 * settings.Records / seconds90, probe.Duplicates);
    }

    /// <summary>Which records fail once (by their place in the source topic), and what was handled.</summary>
    internal sealed class Probe(RetrySettings settings)
    {
        private readonly ConcurrentDictionary<(int, long), byte> _failed = new();
        private readonly ConcurrentDictionary<(int, long), byte> _handled = new();
        private int _duplicates;

        public RetrySettings Settings { get; } = settings;

        public long FirstAt { get; private set; }

        public long LastAt { get; private set; }

        public long NinetyAt { get; private set; }

        public int Failed => _failed.Count;

        public int Duplicates => Volatile.Read(ref _duplicates);

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Whether this attempt fails: the first one of about FailingPerMille records per thousand.</summary>
        public bool Fails((int Partition, long Offset) origin) =>
            (uint)HashCode.Combine(origin.Partition, origin.Offset, 17) % 1000 < Settings.FailingPerMille && _failed.TryAdd(origin, 0);

        public void Handled((int Partition, long Offset) origin)
        {
            if (!_handled.TryAdd(origin, 0))
            {
                Interlocked.Increment(ref _duplicates);
                return;
            }

            var now = Stopwatch.GetTimestamp();
            var count = _handled.Count;
            if (count == 1)
            {
                FirstAt = now;
            }

            if (count == (int)(0.9 * Settings.Records))
            {
                NinetyAt = now;
            }

            if (count == Settings.Records)
            {
                LastAt = now;
                Done.TrySetResult();
            }
        }
    }

    /// <summary>Does its async work, then fails the first attempt of the chosen records.</summary>
    internal sealed class FailingOnceHandler(Probe probe) : IMessageHandler<byte[]?, byte[]?>
    {
        public async Task HandleAsync(MessageContext<byte[]?, byte[]?> context, CancellationToken cancellationToken)
        {
            await Task.Delay(probe.Settings.Work, cancellationToken);
            var origin = Origin(context);
            if (probe.Fails(origin))
            {
                throw new TimeoutException("failing once (benchmark)");
            }

            probe.Handled(origin);
        }

        private static (int, long) Origin(MessageContext<byte[]?, byte[]?> context) =>
            context.Headers.TryGetLastBytes(ReliableKafkaHeaders.RetryOriginalPartition, out var partition)
            && context.Headers.TryGetLastBytes(ReliableKafkaHeaders.RetryOriginalOffset, out var offset)
                ? (int.Parse(Encoding.UTF8.GetString(partition), CultureInfo.InvariantCulture), long.Parse(Encoding.UTF8.GetString(offset), CultureInfo.InvariantCulture))
                : (context.Partition.Value, context.Offset.Value);
    }
}
