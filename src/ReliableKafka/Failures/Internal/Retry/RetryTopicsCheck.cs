using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Extensions.Logging;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Failures.Internal.Retry;

/// <summary>
/// Checks at a consumer's start that its retry topics, dead-letter topics and parking topic exist, creating the missing
/// ones when <see cref="RetryTopicOptions.CreateTopics"/> is set (retry topics with their source topic's partitions, a
/// dead-letter topic with one, the parking topic compacted), else logging them (event 2054). Runs beside the consumer: a record sent to a missing topic waits,
/// unfinished, so nothing is lost meanwhile. While the cluster cannot be reached it tries again every few seconds.
/// </summary>
internal static class RetryTopicsCheck
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(5);
    private const int ParkingPartitions = 3;

    public static async Task RunAsync(
        Func<IProducer<byte[]?, byte[]?>> createProducer, string consumer, ConsumerOptions options, RetryLevels levels, bool parks, ILogger logger, TimeProvider time, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                using var producer = createProducer();
                using var admin = new DependentAdminClientBuilder(producer.Handle).Build();
                await EnsureAsync(admin, consumer, options, levels, parks, logger, stopping).ConfigureAwait(false);
                return;
            }
            catch (KafkaException e) when (e.Error.Code is ErrorCode.Local_TimedOut or ErrorCode.Local_Transport or ErrorCode.Local_AllBrokersDown)
            {
                // The cluster cannot be reached now: tried again.
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.RetryTopicsMissing(logger, consumer, $"(could not be checked: {e.Message})");
                return;
            }

            try
            {
                await Task.Delay(RetryInterval, time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static async Task EnsureAsync(IAdminClient admin, string consumer, ConsumerOptions options, RetryLevels levels, bool parks, ILogger logger, CancellationToken stopping)
    {
        // All topics: a metadata request for named topics could create them on a broker that auto-creates topics.
        var metadata = await Task.Run(() => admin.GetMetadata(Timeout), stopping).ConfigureAwait(false);
        var existing = metadata.Topics.Where(t => !t.Error.IsError).ToDictionary(t => t.Topic, t => t.Partitions.Count, StringComparer.Ordinal);
        var parking = options.RetryTopic.ParkingTopicFor(options.GroupId!);
        var deadLetters = options.Topics.Select(options.DeadLetter.TopicFor).Distinct(StringComparer.Ordinal).ToList();
        var required = levels.Topics.Concat(deadLetters).Concat(parks ? [parking] : []).ToList();
        var missing = required.Where(t => !existing.ContainsKey(t)).ToList();
        if (missing.Count == 0)
        {
            return;
        }

        var names = string.Join(", ", missing);
        if (!options.RetryTopic.CreateTopics)
        {
            Log.RetryTopicsMissing(logger, consumer, names);
            return;
        }

        var specifications = missing.Select(topic => new TopicSpecification
        {
            Name = topic,
            NumPartitions = topic == parking ? ParkingPartitions
                : deadLetters.Contains(topic) ? 1
                : existing.GetValueOrDefault(levels.Locate(topic).Source, 1),
            ReplicationFactor = (short)options.RetryTopic.ReplicationFactor,
            // A record waits up to its backoff in a retry topic; retention much longer than that (a consumer outage).
            Configs = topic == parking ? new Dictionary<string, string> { ["cleanup.policy"] = "compact" }
                : deadLetters.Contains(topic) ? null
                : new Dictionary<string, string> { ["retention.ms"] = Milliseconds(levels.Backoffs[levels.Locate(topic).Level - 1] + Delay.Internal.DelayTiers.RetentionMargin) },
        }).ToList();
        try
        {
            await admin.CreateTopicsAsync(specifications, new CreateTopicsOptions { RequestTimeout = Timeout }).WaitAsync(stopping).ConfigureAwait(false);
        }
        catch (CreateTopicsException e) when (e.Results.All(r => !r.Error.IsError || r.Error.Code == ErrorCode.TopicAlreadyExists))
        {
            // Created by another member meanwhile.
        }
        catch (KafkaException e) when (e.Error.Code is not (ErrorCode.Local_TimedOut or ErrorCode.Local_Transport or ErrorCode.Local_AllBrokersDown))
        {
            var failures = e is CreateTopicsException created
                ? string.Join("; ", created.Results.Where(r => r.Error.IsError && r.Error.Code != ErrorCode.TopicAlreadyExists).Select(r => $"{r.Topic}: {r.Error.Reason}"))
                : e.Error.Reason;
            Log.RetryTopicsMissing(logger, consumer, $"{names} (creating them failed: {failures})");
            return;
        }

        Log.RetryTopicsCreated(logger, consumer, names);
    }

    private static string Milliseconds(TimeSpan value) => ((long)value.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
