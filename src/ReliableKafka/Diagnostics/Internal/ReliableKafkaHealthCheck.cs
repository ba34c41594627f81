using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using ReliableKafka.Consuming.Internal;

namespace ReliableKafka.Diagnostics.Internal;

/// <summary>
/// Reports every consumer: unhealthy when it is not running (not started yet, stopped by a fatal error or by
/// <see cref="FailurePolicy.StopConsumer"/>); degraded when failed records wait for a dead-letter write that keeps
/// failing, when records wait for a deduplication store or an asynchronous deserializer that keeps failing, when partitions are stopped by a failed record
/// (<see cref="FailurePolicy.PausePartition"/>), when an assigned partition fetches nothing although records wait, or
/// when records were handled after their deduplication claim was taken over (possible duplicates).
/// </summary>
internal sealed class ReliableKafkaHealthCheck(IEnumerable<IHostedService> hostedServices) : IHealthCheck
{
    private readonly List<IReliableConsumerService> _consumers = [.. hostedServices.OfType<IReliableConsumerService>()];

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = HealthStatus.Healthy;
        var problems = new List<string>();
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var consumer in _consumers)
        {
            var (consumerStatus, description) = Check(consumer.Engine);
            if (consumerStatus != HealthStatus.Unhealthy && consumer.Problem is { } problem)
            {
                (consumerStatus, description) = (HealthStatus.Degraded, consumerStatus == HealthStatus.Healthy ? problem : $"{description}; {problem}");
            }

            data[$"consumer:{consumer.Name}"] = description;
            if (consumerStatus < status)
            {
                status = consumerStatus;
            }

            if (consumerStatus != HealthStatus.Healthy)
            {
                problems.Add($"consumer {consumer.Name}: {description}");
            }
        }

        var summary = problems.Count == 0 ? "every consumer is running" : string.Join("; ", problems);
        return Task.FromResult(new HealthCheckResult(status, summary, data: data));
    }

    private static (HealthStatus Status, string Description) Check(ConsumerEngine? engine)
    {
        if (engine?.Run is not { } run)
        {
            return (HealthStatus.Unhealthy, "not started");
        }

        if (run.IsCompleted)
        {
            return (HealthStatus.Unhealthy, run.Exception?.InnerException is { } error ? $"stopped: {error.Message}" : "stopped");
        }

        var issues = new List<string>();
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

        var notFetching = engine.StalledPartitions;
        if (notFetching.Count > 0)
        {
            issues.Add($"not fetching although records wait: {string.Join(", ", notFetching.Select(s => FormattableString.Invariant($"{s.Key.Topic} [{s.Key.Partition.Value}] since {s.Value:O}")))}");
        }

        if (engine.PossibleDuplicates is > 0 and var duplicates)
        {
            issues.Add($"{duplicates} record(s) were handled after their deduplication claim had been taken over by another member (possible duplicate effects; see event 2035)");
        }

        return issues.Count == 0 ? (HealthStatus.Healthy, "running") : (HealthStatus.Degraded, string.Join("; ", issues));
    }
}
