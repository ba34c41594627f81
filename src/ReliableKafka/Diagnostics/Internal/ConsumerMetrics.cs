using System.Diagnostics;
using System.Diagnostics.Metrics;
using Confluent.Kafka;

namespace ReliableKafka.Diagnostics.Internal;

/// <summary>
/// The consumer's counters, on the <c>ReliableKafka</c> meter (System.Diagnostics.Metrics; collect them with
/// OpenTelemetry or dotnet-counters). Each is tagged with the consumer's name, group and the record's topic.
/// </summary>
internal static class ConsumerMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "ReliableKafka";

    /// <summary>The meter every instrument of the library is created on.</summary>
    internal static readonly Meter Meter = new(MeterName);

    private static readonly List<(string Consumer, string Group, Func<(int Keys, int Records)> Read)> ParkingSources = [];

    private static readonly Counter<long> Retries = Meter.CreateCounter<long>(
        "reliablekafka.consumer.retries", "{attempt}", "Handler attempts that failed and were tried again.");

    private static readonly Counter<long> DeadLettered = Meter.CreateCounter<long>(
        "reliablekafka.consumer.dead_lettered", "{record}", "Records written to a dead-letter topic (acknowledged).");

    private static readonly Counter<long> Skipped = Meter.CreateCounter<long>(
        "reliablekafka.consumer.skipped", "{record}", "Records that failed and were skipped (FailurePolicy.Skip).");

    private static readonly Counter<long> DeadLetterWriteFailures = Meter.CreateCounter<long>(
        "reliablekafka.consumer.dead_letter_write_failures", "{write}", "Dead-letter writes that failed and are tried again.");

    private static readonly Counter<long> DuplicatesSuppressed = Meter.CreateCounter<long>(
        "reliablekafka.consumer.duplicates_suppressed", "{record}", "Records processed before (found in the deduplication store) whose handler was not run again.");

    private static readonly Counter<long> DeduplicationStoreFailures = Meter.CreateCounter<long>(
        "reliablekafka.consumer.deduplication_store_failures", "{call}", "Deduplication store calls that failed; the record waits and is tried again.");

    private static readonly Counter<long> PossibleDuplicates = Meter.CreateCounter<long>(
        "reliablekafka.consumer.possible_duplicates", "{record}", "Handled records whose deduplication claim another owner had taken over (its lease expired) before the completion was recorded: that owner may have handled them too.");

    private static readonly Counter<long> Retried = Meter.CreateCounter<long>(
        "reliablekafka.consumer.retried", "{record}", "Failed records sent to a retry topic (acknowledged); tagged with the retry topic.");

    private static readonly Counter<long> Followed = Meter.CreateCounter<long>(
        "reliablekafka.consumer.parked_followers", "{record}", "Records sent to a retry topic behind a failed record of their key (their key was parked); tagged with the retry topic.");

    private static readonly ObservableGauge<int> ParkedKeysGauge = Meter.CreateObservableGauge(
        "reliablekafka.consumer.parked_keys", () => ObserveParking(keys: true), "{key}", "Keys parked on this member's partitions (their records follow a failed record through the retry topics).");

    private static readonly ObservableGauge<int> ParkedRecordsGauge = Meter.CreateObservableGauge(
        "reliablekafka.consumer.parked_records", () => ObserveParking(keys: false), "{record}", "Records this member sent to retry topics behind parked keys that are still parked.");

    /// <summary>Reports a consumer's parked keys and the records behind them until the result is disposed.</summary>
    public static IDisposable TrackParking(string consumer, string group, Func<(int Keys, int Records)> read)
    {
        _ = (ParkedKeysGauge, ParkedRecordsGauge);
        var source = (consumer, group, read);
        lock (ParkingSources)
        {
            ParkingSources.Add(source);
        }

        return new Untrack(() =>
        {
            lock (ParkingSources)
            {
                ParkingSources.Remove(source);
            }
        });
    }

    public static void RetrySent(string consumer, string group, TopicPartition from, string retryTopic, bool follower)
    {
        var counter = follower ? Followed : Retried;
        if (counter.Enabled)
        {
            counter.Add(1, new TagList { { "consumer", consumer }, { "group", group }, { "topic", from.Topic }, { "retry_topic", retryTopic } });
        }
    }

    public static void PossibleDuplicate(string consumer, string group, TopicPartition partition) => Add(PossibleDuplicates, consumer, group, partition);

    public static void DuplicateSuppressed(string consumer, string group, TopicPartition partition) => Add(DuplicatesSuppressed, consumer, group, partition);

    public static void DeduplicationStoreFailed(string consumer, string group, TopicPartition partition) => Add(DeduplicationStoreFailures, consumer, group, partition);

    public static void Retry(string consumer, string group, TopicPartition partition) => Add(Retries, consumer, group, partition);

    public static void DeadLetter(string consumer, string group, TopicPartition partition) => Add(DeadLettered, consumer, group, partition);

    public static void Skip(string consumer, string group, TopicPartition partition) => Add(Skipped, consumer, group, partition);

    public static void DeadLetterWriteFailed(string consumer, string group, TopicPartition partition) => Add(DeadLetterWriteFailures, consumer, group, partition);

    private static void Add(Counter<long> counter, string consumer, string group, TopicPartition partition)
    {
        if (counter.Enabled)
        {
            counter.Add(1, new TagList { { "consumer", consumer }, { "group", group }, { "topic", partition.Topic } });
        }
    }

    private static IEnumerable<Measurement<int>> ObserveParking(bool keys)
    {
        List<(string Consumer, string Group, Func<(int Keys, int Records)> Read)> sources;
        lock (ParkingSources)
        {
            sources = [.. ParkingSources];
        }

        foreach (var (consumer, group, read) in sources)
        {
            var (parkedKeys, records) = read();
            yield return new Measurement<int>(keys ? parkedKeys : records, new TagList { { "consumer", consumer }, { "group", group } });
        }
    }

    private sealed class Untrack(Action remove) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                remove();
            }
        }
    }
}
