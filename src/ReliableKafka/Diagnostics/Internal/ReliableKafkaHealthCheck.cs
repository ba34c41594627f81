using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Producing.Internal;

namespace ReliableKafka.Diagnostics.Internal;

/// <summary>
/// Reports every consumer, every producer created so far and every cluster in use. Unhealthy when a consumer is not
/// running (not started yet, stopped by a fatal error or by <see cref="FailurePolicy.StopConsumer"/>) or a producer hit a
/// fatal error (it can never send again). Degraded when no broker of a cluster answered for
/// <see cref="HealthOptions.BrokersUnreachableAfter"/>; when a consumer finished no record for
/// <see cref="HealthOptions.NoProgressAfter"/> while records wait; when failed records wait for a dead-letter write that
/// keeps failing, when records wait for a deduplication store or an asynchronous deserializer that keeps failing, when
/// partitions are stopped by a failed record (<see cref="FailurePolicy.PausePartition"/>), when an assigned partition
/// fetches nothing although records wait, or when records were handled after their deduplication claim was taken over
/// (possible duplicates). Each description says which, and since when.
/// </summary>
internal sealed class ReliableKafkaHealthCheck(
    IEnumerable<IHostedService> hostedServices,
    IOptions<ReliableKafkaOptions> options,
    TimeProvider time,
    ProducerClientRegistry producers) : IHealthCheck
{
    private readonly List<IReliableConsumerService> _consumers = [.. hostedServices.OfType<IReliableConsumerService>()];
    private readonly BrokerReachability? _brokers = hostedServices.OfType<BrokerReachability>().FirstOrDefault();

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = HealthStatus.Healthy;
        var problems = new List<string>();
        var data = new Dictionary<string, object>(StringComparer.Ordinal);

        void Report(string subject, HealthStatus subjectStatus, string description)
        {
            data[subject] = description;
            if (subjectStatus < status)
            {
                status = subjectStatus;
            }

            if (subjectStatus != HealthStatus.Healthy)
            {
                problems.Add($"{subject.Replace(":", " ", StringComparison.Ordinal)}: {description}");
            }
        }

        if (_brokers?.Failure is { } probeFailure)
        {
            Report("probe", HealthStatus.Degraded, $"the broker probe stopped, so an unreachable cluster is not noticed: {probeFailure}");
        }

        foreach (var (cluster, since, error) in _brokers?.Unreachable() ?? [])
        {
            Report($"cluster:{cluster}", HealthStatus.Degraded, $"no broker reachable since {Format(since)}{(error is null ? string.Empty : $" ({error})")}");
        }

        foreach (var producer in producers.Clients)
        {
            if (producer.FatalError is { } fatal)
            {
                Report($"producer:{producer.Name}", HealthStatus.Unhealthy, $"fatal error, it can no longer send: {fatal.Code}: {fatal.Reason}");
            }
        }

        var noProgressAfter = options.Value.Health.NoProgressAfter;
        foreach (var consumer in _consumers)
        {
            var (consumerStatus, issues) = Inspect(consumer, noProgressAfter, time.GetUtcNow());
            Report($"consumer:{consumer.Name}", consumerStatus, issues.Count == 0 ? "running" : string.Join("; ", issues));
        }

        var summary = problems.Count == 0 ? "every consumer is running" : string.Join("; ", problems);
        return Task.FromResult(new HealthCheckResult(status, summary, data: data));
    }

    private static string Format(DateTimeOffset time) => time.ToString("O", CultureInfo.InvariantCulture);

    /// <summary>
    /// What the check says about one consumer: unhealthy when it is not running, degraded with each problem it has
    /// (also the dashboard's list of problems), healthy with none.
    /// </summary>
    internal static (HealthStatus Status, IReadOnlyList<string> Issues) Inspect(IReliableConsumerService consumer, TimeSpan noProgressAfter, DateTimeOffset now)
    {
        var engine = consumer.Engine;
        if (engine?.Run is not { } run)
        {
            return (HealthStatus.Unhealthy, ["not started"]);
        }

        if (run.IsCompleted)
        {
            return (HealthStatus.Unhealthy, [run.Exception?.InnerException is { } error ? $"stopped: {error.Message}" : "stopped"]);
        }

        var issues = new List<string>();
        if (engine.NoProgressSince is { } stuckSince && now - stuckSince >= noProgressAfter)
        {
            issues.Add($"no record finished since {Format(stuckSince)} although {engine.BufferedRecords} record(s) wait (queued, running or waiting to be retried)");
        }
        else if (engine.OldestRunningSince is { } runningSince && now - runningSince >= noProgressAfter)
        {
            // Other records finish, but one handler hangs: its key (or partition) waits behind it.
            issues.Add($"a handler has been running since {Format(runningSince)}");
        }

        if (engine.DeadLetterWritesFailing is > 0 and var waiting)
        {
            issues.Add($"{waiting} failed record(s) wait for a dead-letter write that keeps failing; their offsets are not committed");
        }

        if (engine.DeduplicationStoreFailing is > 0 and var stalled)
        {
            issues.Add($"{stalled} record(s) wait for the deduplication store, which keeps failing; they are not handled or committed until it works again");
        }

        if (engine.DeserializerFailing is > 0 and var undecoded)
        {
            issues.Add($"{undecoded} record(s) wait for an asynchronous deserializer that keeps failing (event 2047); they are not handled or committed until it works again");
        }

        var failed = engine.FailedPartitions;
        if (failed.Count > 0)
        {
            issues.Add($"stopped by failed records: {string.Join(", ", failed.Select(f => $"{f.Key.Topic} [{f.Key.Partition.Value}] ({f.Value.GetType().Name}: {f.Value.Message})"))}");
        }

        var operatorPaused = engine.OperatorPaused;
        if (operatorPaused.Count > 0)
        {
            issues.Add($"paused by an operator: {string.Join(", ", operatorPaused.Select(p => $"{p.Topic} [{p.Partition.Value}]"))}");
        }

        var notFetching = engine.StalledPartitions;
        if (notFetching.Count > 0)
        {
            issues.Add($"not fetching although records wait: {string.Join(", ", notFetching.Select(s => $"{s.Key.Topic} [{s.Key.Partition.Value}] since {Format(s.Value)}"))}");
        }

        if (engine.PossibleDuplicates is > 0 and var duplicates)
        {
            issues.Add($"{duplicates} record(s) were handled after their deduplication claim had been taken over by another member (possible duplicate effects; see event 2035)");
        }

        if (consumer.Problem is { } problem)
        {
            issues.Add(problem);
        }

        return (issues.Count == 0 ? HealthStatus.Healthy : HealthStatus.Degraded, issues);
    }
}
