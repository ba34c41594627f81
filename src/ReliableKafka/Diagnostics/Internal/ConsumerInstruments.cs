using System.Diagnostics;
using System.Diagnostics.Metrics;
using Confluent.Kafka;

namespace ReliableKafka.Diagnostics.Internal;

/// <summary>
/// One consumer's view of <see cref="ReliableKafkaMetrics"/>: every measurement is tagged with the consumer's name
/// (<c>reliablekafka.consumer.name</c>), its group (<c>messaging.consumer.group.name</c>) and the record's topic
/// (<c>messaging.destination.name</c>); the messaging ones also with <c>messaging.system</c> and the partition.
/// Nothing is built while an instrument has no listener.
/// </summary>
internal sealed class ConsumerInstruments(ReliableKafkaMetrics metrics, string name, string groupId)
{
    private long _handled;
    private long _retries;
    private long _retried;
    private long _deadLettered;
    private long _skipped;

    /// <summary>Gets the instruments this view records on.</summary>
    public ReliableKafkaMetrics Metrics { get; } = metrics;

    public string Name { get; } = name;

    public string GroupId { get; } = groupId;

    /// <summary>Gets the counts since the consumer started, whoever listens: handled, retried in place, sent to retry topics, dead-lettered, skipped.</summary>
    public (long Handled, long Retries, long Retried, long DeadLettered, long Skipped) Totals =>
        (Interlocked.Read(ref _handled), Interlocked.Read(ref _retries), Interlocked.Read(ref _retried), Interlocked.Read(ref _deadLettered), Interlocked.Read(ref _skipped));

    /// <summary>A record handled (its handler succeeded, or it was processed before).</summary>
    public void Handled() => Interlocked.Increment(ref _handled);

    /// <summary>Reports the consumer's state to the gauges until the result is disposed.</summary>
    public IDisposable Track(Func<ConsumerStatus> read) => Metrics.Track(Name, GroupId, read);

    /// <summary>Gets a value indicating whether someone listens to <c>messaging.process.duration</c> (so a record's processing is timed).</summary>
    public bool MeasuresProcessing => Metrics.ProcessDuration.Enabled;

    /// <summary>A record fetched and handed to the pipeline.</summary>
    public void Consumed(TopicPartition partition)
    {
        if (Metrics.ConsumedMessages.Enabled)
        {
            var tags = Messaging(partition, "poll", "receive", withPartition: true);
            try
            {
                Metrics.ConsumedMessages.Add(1, tags);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // See Safely.
            }
        }
    }

    /// <summary>A record processed (handled, or failed for good: <paramref name="errorType"/>), and how long it took.</summary>
    public void Processed(TopicPartition partition, TimeSpan elapsed, string? errorType)
    {
        if (Metrics.ProcessDuration.Enabled)
        {
            // No partition: a histogram's series multiply by its attributes' values.
            var tags = Messaging(partition, "process", "process", withPartition: false);
            if (errorType is not null)
            {
                tags.Add("error.type", errorType);
            }

            try
            {
                Metrics.ProcessDuration.Record(elapsed.TotalSeconds, tags);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // See Safely.
            }
        }
    }

    /// <summary>An offset commit's result: its duration, and a failure counted (<paramref name="error"/>).</summary>
    public void Committed(TimeSpan elapsed, ErrorCode? error)
    {
        if (!Metrics.OperationDuration.Enabled && (error is null || !Metrics.CommitFailures.Enabled))
        {
            return;
        }

        var tags = new TagList
        {
            { "messaging.system", "kafka" },
            { "messaging.operation.name", "commit" },
            { "messaging.operation.type", "settle" },
            { "messaging.consumer.group.name", GroupId },
            { "reliablekafka.consumer.name", Name },
        };
        if (error is { } code)
        {
            tags.Add("error.type", code.ToString());
            Safely(() => Metrics.CommitFailures.Add(1, tags));
        }

        Safely(() => Metrics.OperationDuration.Record(elapsed.TotalSeconds, tags));
    }

    /// <summary>A rebalance callback: <paramref name="kind"/> is assigned, revoked or lost.</summary>
    public void Rebalanced(string kind)
    {
        if (Metrics.Rebalances.Enabled)
        {
            var tags = new TagList { { "reliablekafka.consumer.name", Name }, { "messaging.consumer.group.name", GroupId }, { "reliablekafka.rebalance.kind", kind } };
            Safely(() => Metrics.Rebalances.Add(1, tags));
        }
    }

    public void RetrySent(TopicPartition from, string retryTopic, bool follower)
    {
        if (!follower)
        {
            Interlocked.Increment(ref _retried);
        }

        var counter = follower ? Metrics.Followed : Metrics.Retried;
        if (counter.Enabled)
        {
            var tags = Own(from);
            tags.Add("reliablekafka.retry_topic", retryTopic);
            Safely(() => counter.Add(1, tags));
        }
    }

    public void PossibleDuplicate(TopicPartition partition) => Add(Metrics.PossibleDuplicates, partition);

    public void DuplicateSuppressed(TopicPartition partition) => Add(Metrics.DuplicatesSuppressed, partition);

    public void DeduplicationStoreFailed(TopicPartition partition) => Add(Metrics.DeduplicationStoreFailures, partition);

    public void Retry(TopicPartition partition) => Add(Metrics.Retries, partition, ref _retries);

    public void DeadLetter(TopicPartition partition) => Add(Metrics.DeadLettered, partition, ref _deadLettered);

    public void Skip(TopicPartition partition) => Add(Metrics.Skipped, partition, ref _skipped);

    public void DeadLetterWriteFailed(TopicPartition partition) => Add(Metrics.DeadLetterWriteFailures, partition);

    private void Add(Counter<long> counter, TopicPartition partition, ref long total)
    {
        Interlocked.Increment(ref total);
        Add(counter, partition);
    }

    private void Add(Counter<long> counter, TopicPartition partition)
    {
        if (counter.Enabled)
        {
            var tags = Own(partition);
            Safely(() => counter.Add(1, tags));
        }
    }

    private TagList Own(TopicPartition partition) => new()
    {
        { "reliablekafka.consumer.name", Name },
        { "messaging.consumer.group.name", GroupId },
        { "messaging.destination.name", partition.Topic },
    };

    private TagList Messaging(TopicPartition partition, string operation, string type, bool withPartition)
    {
        var tags = new TagList
        {
            { "messaging.system", "kafka" },
            { "messaging.operation.name", operation },
            { "messaging.operation.type", type },
            { "messaging.consumer.group.name", GroupId },
            { "messaging.destination.name", partition.Topic },
            { "reliablekafka.consumer.name", Name },
        };
        if (withPartition)
        {
            tags.Add("messaging.destination.partition.id", ReliableKafkaMetrics.PartitionId(partition.Partition.Value));
        }

        return tags;
    }

    /// <summary>
    /// Records a measurement, swallowing what an application's MeterListener throws: a measurement is worth less than
    /// the record, and an exception here would otherwise end a lane or skip a commit's bookkeeping.
    /// </summary>
    private static void Safely(Action record)
    {
        try
        {
            record();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
        }
    }
}
