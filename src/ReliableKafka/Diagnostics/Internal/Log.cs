using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using ReliableKafka.Configuration.Internal;

namespace ReliableKafka.Diagnostics.Internal;

/// <summary>Every log message of ReliableKafka, with stable event ids (1xxx producer, 2xxx consumer, 3xxx librdkafka, 4xxx health).</summary>
internal static partial class Log
{
    /// <summary>The category of librdkafka's own log lines, so they can be filtered apart from ReliableKafka's.</summary>
    public const string LibrdkafkaCategory = "ReliableKafka.Librdkafka";

    /// <summary>The category of producer messages.</summary>
    public const string ProducerCategory = "ReliableKafka.Producer";

    /// <summary>The category of consumer messages.</summary>
    public const string ConsumerCategory = "ReliableKafka.Consumer";

    /// <summary>The category of the health check's probe.</summary>
    public const string HealthCategory = "ReliableKafka.Health";

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Cluster {Cluster} did not answer the health probe's metadata request: {Reason}")]
    public static partial void ClusterUnreachable(ILogger logger, string cluster, string reason);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Error, Message = "The health check's broker probe stopped; the check reports it degraded")]
    public static partial void BrokerProbeFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Cluster {Cluster} answers the health probe again")]
    public static partial void ClusterReachable(ILogger logger, string cluster);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Debug, Message = "Producer {Producer} created under {Guarantee}: {Config}")]
    private static partial void ProducerCreatedCore(ILogger logger, string producer, DeliveryGuarantee guarantee, string config);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Producer {Producer}: {ErrorCode}: {Reason}")]
    public static partial void ProducerError(ILogger logger, string producer, ErrorCode errorCode, string reason);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Critical, Message = "Producer {Producer} hit a fatal error and can no longer produce: {ErrorCode}: {Reason}")]
    public static partial void ProducerFatalError(ILogger logger, string producer, ErrorCode errorCode, string reason);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Producer {Producer}: {Count} message(s) were still undelivered after waiting {TimeoutMs} ms for them on shutdown; their ProduceAsync calls fail")]
    public static partial void ProducerFlushIncomplete(ILogger logger, string producer, int count, long timeoutMs);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Consumer {Consumer} starting: group {GroupId}, topics {Topics}, {Guarantee}")]
    private static partial void ConsumerStartingCore(ILogger logger, string consumer, string groupId, string topics, DeliveryGuarantee guarantee);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "Consumer {Consumer} configuration: {Config}")]
    private static partial void ConsumerConfigurationCore(ILogger logger, string consumer, string config);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Consumer {Consumer} assigned {Partitions}")]
    private static partial void PartitionsAssignedCore(ILogger logger, string consumer, string partitions);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "Consumer {Consumer} revoked {Partitions}")]
    private static partial void PartitionsRevokedCore(ILogger logger, string consumer, string partitions);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "Consumer {Consumer} lost {Partitions} (its group session expired); nothing is committed for them and their running handlers are cancelled")]
    private static partial void PartitionsLostCore(ILogger logger, string consumer, string partitions);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Error, Message = "Consumer {Consumer}: the handler failed for {Topic} [{Partition}] @{Offset}; the partition is paused and no offset at or past this record is committed")]
    public static partial void HandlerFailed(ILogger logger, string consumer, string topic, int partition, long offset, Exception exception);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "Consumer {Consumer}: the handler failed for {Topic} [{Partition}] @{Offset}; under AtMostOnce the record is not handled again")]
    public static partial void HandlerFailedAtMostOnce(ILogger logger, string consumer, string topic, int partition, long offset, Exception exception);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Debug, Message = "Consumer {Consumer} committed {Offsets} ({Reason})")]
    private static partial void CommittedCore(ILogger logger, string consumer, string offsets, string reason);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Warning, Message = "Consumer {Consumer} could not commit {Offsets} ({Reason}): {ErrorCode}: {ErrorReason}; it tries again at the next commit")]
    private static partial void CommitFailedCore(ILogger logger, string consumer, string offsets, string reason, ErrorCode errorCode, string errorReason);

    [LoggerMessage(EventId = 2020, Level = LogLevel.Warning, Message = "Consumer {Consumer} could not commit {Offsets} ({Reason}) before letting the partitions go: {ErrorCode}: {ErrorReason}; records finished since their last commit will be processed again by their next owner")]
    private static partial void CommitFailedFinalCore(ILogger logger, string consumer, string offsets, string reason, ErrorCode errorCode, string errorReason);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Consumer {Consumer}: handlers of {Partitions} did not finish within {TimeoutMs} ms ({Reason}); they are cancelled and their records are left uncommitted, to be processed again")]
    private static partial void HandlersAbandonedCore(ILogger logger, string consumer, string partitions, long timeoutMs, string reason);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Consumer {Consumer}: {ErrorCode}: {Reason}")]
    public static partial void ConsumerError(ILogger logger, string consumer, ErrorCode errorCode, string reason);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Critical, Message = "Consumer {Consumer} hit a fatal error and stops: {ErrorCode}: {Reason}")]
    public static partial void ConsumerFatalError(ILogger logger, string consumer, ErrorCode errorCode, string reason);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Debug, Message = "Consumer {Consumer}: {Buffered} records buffered (limit {Limit}) and the handlers are not catching up; partitions with their share of the buffer are paused")]
    public static partial void BackpressureOn(ILogger logger, string consumer, int buffered, int limit);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Debug, Message = "Consumer {Consumer}: {Buffered} records buffered; every partition takes records again")]
    public static partial void BackpressureOff(ILogger logger, string consumer, int buffered);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Information, Message = "Consumer {Consumer} stopped")]
    public static partial void ConsumerStopped(ILogger logger, string consumer);

    [LoggerMessage(EventId = 2016, Level = LogLevel.Warning, Message = "Consumer {Consumer}: leaving the group failed: {Reason}")]
    public static partial void CloseFailed(ILogger logger, string consumer, string reason);

    [LoggerMessage(EventId = 2017, Level = LogLevel.Information, Message = "Consumer {Consumer} stopping within {TimeoutMs} ms: waiting for running handlers, then committing and leaving the group")]
    public static partial void ConsumerStopping(ILogger logger, string consumer, long timeoutMs);

    [LoggerMessage(EventId = 2018, Level = LogLevel.Warning, Message = "Consumer {Consumer}: committing offsets before handling failed ({Reason}); the records are fetched again and not handled until their offsets are committed")]
    public static partial void AtMostOnceCommitFailed(ILogger logger, string consumer, string reason);

    [LoggerMessage(EventId = 2019, Level = LogLevel.Warning, Message = "Consumer {Consumer} was stopped without committing or leaving its group (simulated crash)")]
    public static partial void ConsumerCrashed(ILogger logger, string consumer);

    [LoggerMessage(EventId = 2021, Level = LogLevel.Debug, Message = "Consumer {Consumer}: {Topic} [{Partition}] stops taking records at @{Offset}: records finished beyond its watermark @{Watermark} would not fit the commit metadata; it resumes when the watermark moves")]
    private static partial void GapFullCore(ILogger logger, string consumer, string topic, int partition, long offset, long watermark);

    [LoggerMessage(EventId = 2022, Level = LogLevel.Warning, Message = "Consumer {Consumer}: the commit metadata of {Topic} [{Partition}] is ignored ({Reason}); records that finished beyond the committed offset before are handled again")]
    private static partial void MetadataIgnoredCore(ILogger logger, string consumer, string topic, int partition, string reason);

    [LoggerMessage(EventId = 2023, Level = LogLevel.Warning, Message = "Consumer {Consumer} could not read the committed offsets of {Partitions}: {ErrorCode}: {Reason}; records that finished beyond them before are handled again")]
    private static partial void CommittedReadFailedCore(ILogger logger, string consumer, string partitions, ErrorCode errorCode, string reason);

    [LoggerMessage(EventId = 2024, Level = LogLevel.Information, Message = "Consumer {Consumer}: {Topic} [{Partition}] resumes at @{Offset}, skipping {Count} later record(s) finished before")]
    private static partial void ResumingPastFinishedCore(ILogger logger, string consumer, string topic, int partition, long offset, int count);

    [LoggerMessage(EventId = 2025, Level = LogLevel.Warning, Message = "Consumer {Consumer}: the finished records of {Topic} [{Partition}] beyond its watermark were not written to the commit metadata ({Reason}); they would be handled again after a restart")]
    private static partial void MetadataNotWrittenCore(ILogger logger, string consumer, string topic, int partition, string reason);

    [LoggerMessage(EventId = 2026, Level = LogLevel.Information, Message = "Consumer {Consumer}: attempt {Attempt} for {Topic} [{Partition}] @{Offset} failed ({ExceptionType}: {Reason}); it is tried again")]
    private static partial void AttemptFailedCore(ILogger logger, string consumer, string topic, int partition, long offset, int attempt, string exceptionType, string reason);

    [LoggerMessage(EventId = 2027, Level = LogLevel.Warning, Message = "Consumer {Consumer}: {Topic} [{Partition}] @{Offset} failed after {Attempts} attempt(s) and was written to the dead-letter topic {DeadLetterTopic} [{DeadLetterPartition}] @{DeadLetterOffset}; the consumer goes on")]
    public static partial void DeadLettered(ILogger logger, string consumer, string topic, int partition, long offset, int attempts, string deadLetterTopic, int deadLetterPartition, long deadLetterOffset, Exception exception);

    [LoggerMessage(EventId = 2028, Level = LogLevel.Error, Message = "Consumer {Consumer}: writing {Topic} [{Partition}] @{Offset} to the dead-letter topic failed ({Reason}); the record stays uncommitted and the write is tried again in {PauseMs} ms")]
    public static partial void DeadLetterWriteFailed(ILogger logger, string consumer, string topic, int partition, long offset, long pauseMs, string reason);

    [LoggerMessage(EventId = 2029, Level = LogLevel.Warning, Message = "Consumer {Consumer}: {Topic} [{Partition}] @{Offset} failed after {Attempts} attempt(s) and is skipped (FailurePolicy.Skip); it will not be handled again")]
    public static partial void RecordSkipped(ILogger logger, string consumer, string topic, int partition, long offset, int attempts, Exception exception);

    [LoggerMessage(EventId = 2030, Level = LogLevel.Critical, Message = "Consumer {Consumer}: {Topic} [{Partition}] @{Offset} failed after {Attempts} attempt(s); the consumer stops (FailurePolicy.StopConsumer), committing nothing at or past the record")]
    public static partial void StoppingOnFailure(ILogger logger, string consumer, string topic, int partition, long offset, int attempts, Exception exception);

    [LoggerMessage(EventId = 2031, Level = LogLevel.Information, Message = "Redrive of {DeadLetterTopic} (group {GroupId}): {Redriven} record(s) sent back and acknowledged, {PassedOver} passed over")]
    public static partial void Redriven(ILogger logger, string deadLetterTopic, string groupId, int redriven, int passedOver);

    [LoggerMessage(EventId = 2032, Level = LogLevel.Debug, Message = "Consumer {Consumer}: {Topic} [{Partition}] @{Offset} (message id {MessageId}) was processed before; its handler is not run again")]
    public static partial void DuplicateSuppressed(ILogger logger, string consumer, string topic, int partition, long offset, string messageId);

    [LoggerMessage(EventId = 2033, Level = LogLevel.Information, Message = "Consumer {Consumer}: {Topic} [{Partition}] @{Offset} (message id {MessageId}) is being processed elsewhere (a claim not yet expired); waiting for it to complete, be released or expire")]
    public static partial void ClaimedElsewhere(ILogger logger, string consumer, string topic, int partition, long offset, string messageId);

    [LoggerMessage(EventId = 2034, Level = LogLevel.Error, Message = "Consumer {Consumer}: the deduplication store failed while processing {Topic} [{Partition}] @{Offset} ({Reason}); the record stays unfinished and uncommitted, and is tried again in {PauseMs} ms")]
    public static partial void DeduplicationStoreFailed(ILogger logger, string consumer, string topic, int partition, long offset, long pauseMs, string reason);

    [LoggerMessage(EventId = 2035, Level = LogLevel.Error, Message = "Consumer {Consumer}: {Topic} [{Partition}] @{Offset} (message id {MessageId}) was handled, but its claim had expired and another owner had taken it over before the completion was recorded: that owner may handle it too (a possible duplicate effect; Deduplication:LeaseDuration is shorter than the store was unreachable or slow)")]
    public static partial void ClaimLost(ILogger logger, string consumer, string topic, int partition, long offset, string messageId);

    [LoggerMessage(EventId = 2036, Level = LogLevel.Warning, Message = "Consumer {Consumer}: releasing the claim on {Topic} [{Partition}] @{Offset} failed ({Reason}); the record is claimable again when its lease expires")]
    public static partial void ReleaseFailed(ILogger logger, string consumer, string topic, int partition, long offset, string reason);

    [LoggerMessage(EventId = 2039, Level = LogLevel.Warning, Message = "Consumer {Consumer}: renewing the claim on {Topic} [{Partition}] @{Offset} failed ({Reason}); if the store stays down, the claim expires and another member may take the record over")]
    public static partial void ClaimRenewalFailed(ILogger logger, string consumer, string topic, int partition, long offset, string reason);

    [LoggerMessage(EventId = 2040, Level = LogLevel.Information, Message = "Consumer {Consumer}: {Topic} [{Partition}] @{Offset} was already in the dead-letter topic (an earlier write happened: a member crashed before recording it, or its acknowledgement was lost); it is not written again")]
    public static partial void DeadLetterFoundWritten(ILogger logger, string consumer, string topic, int partition, long offset);

    [LoggerMessage(EventId = 2041, Level = LogLevel.Critical, Message = "Consumer {Consumer} failed and stops ({ExceptionType}: {Reason}); it leaves its group without committing, and records not committed before are handled again by the partitions' next owner")]
    private static partial void ConsumerFailedCore(ILogger logger, string consumer, string exceptionType, string reason, Exception exception);

    [LoggerMessage(EventId = 2042, Level = LogLevel.Warning, Message = "Consumer {Consumer}: leaving the group did not finish within {TimeoutMs} ms; the Kafka client is left behind and the group notices when the session times out")]
    public static partial void CloseTimedOut(ILogger logger, string consumer, long timeoutMs);

    [LoggerMessage(EventId = 2043, Level = LogLevel.Warning, Message = "Consumer {Consumer}: the brokers refused the commit metadata of {Topic} [{Partition}] ({Length} characters; see the brokers' offset.metadata.max.bytes); commits now carry at most {Limit} characters of it, so records that finished beyond a committed offset may be handled again after a restart or a rebalance")]
    private static partial void MetadataTooLargeCore(ILogger logger, string consumer, string topic, int partition, int length, int limit);

    [LoggerMessage(EventId = 2044, Level = LogLevel.Warning, Message = "Consumer {Consumer}: the claim on {Topic} [{Partition}] @{Offset} (message id {MessageId}) could not be renewed while its handler runs: it expired and another owner may have taken it over; if so, its completion reports a possible duplicate")]
    public static partial void ClaimNotRenewed(ILogger logger, string consumer, string topic, int partition, long offset, string messageId);

    [LoggerMessage(EventId = 2045, Level = LogLevel.Warning, Message = "Consumer {Consumer}: no time was left to commit ({Reason}, budget {BudgetMs} ms); records finished since the last commit will be processed again by the partitions' next owner")]
    public static partial void CommitSkipped(ILogger logger, string consumer, string reason, long budgetMs);

    [LoggerMessage(EventId = 2046, Level = LogLevel.Warning, Message = "Consumer {Consumer}: {Topic} [{Partition}] fetched nothing for {ElapsedMs} ms although records wait and the consumer neither holds nor pauses it; it is resumed and sought to its position again")]
    private static partial void PartitionStalledCore(ILogger logger, string consumer, string topic, int partition, long elapsedMs);

    [LoggerMessage(EventId = 2047, Level = LogLevel.Error, Message = "Consumer {Consumer}: the asynchronous deserializer failed on {Topic} [{Partition}] @{Offset} ({ExceptionType}: {Reason}); the record (and its key) waits, unfinished and uncommitted, and is deserialized again in {PauseMs} ms")]
    private static partial void DeserializationFailedCore(ILogger logger, string consumer, string topic, int partition, long offset, long pauseMs, string exceptionType, string reason);

    [LoggerMessage(EventId = 2048, Level = LogLevel.Error, Message = "Delayed delivery {Forwarder}: reading the cancellation topic {Topic} failed; messages due meanwhile wait until it works again")]
    public static partial void DelayCancellationsFailed(ILogger logger, string forwarder, string topic, Exception exception);

    [LoggerMessage(EventId = 2049, Level = LogLevel.Error, Message = "Delayed delivery: the topics {Topics} do not exist; create them, or set ReliableKafka:DelayedDelivery:CreateTopics")]
    public static partial void DelayTopicsMissing(ILogger logger, string topics);

    [LoggerMessage(EventId = 2050, Level = LogLevel.Information, Message = "Delayed delivery: created the topics {Topics}")]
    public static partial void DelayTopicsCreated(ILogger logger, string topics);

    [LoggerMessage(EventId = 2051, Level = LogLevel.Warning, Message = "Delayed delivery: a tombstone for an expired cancellation could not be written to {Topic}; it is written again after the next forwarder restart")]
    public static partial void DelayTombstoneFailed(ILogger logger, string topic, Exception exception);

    [LoggerMessage(EventId = 2052, Level = LogLevel.Warning, Message = "Delayed delivery: the delay topics {Topics} are not among the configured tiers, so no forwarder reads them; records left in them are not delivered. Add their tiers back until they are empty")]
    public static partial void DelayTopicsUnread(ILogger logger, string topics);

    [LoggerMessage(EventId = 2053, Level = LogLevel.Warning, Message = "Delayed delivery: the delay topics could not be checked at startup ({Reason}); scheduling and forwarding start anyway and wait for the cluster")]
    public static partial void DelayTopicsUnchecked(ILogger logger, string reason);

    [LoggerMessage(EventId = 2054, Level = LogLevel.Error, Message = "Consumer {Consumer}: the retry topics {Topics} do not exist; records sent to them wait, unfinished, until they do. Create them, or set RetryTopic:CreateTopics")]
    public static partial void RetryTopicsMissing(ILogger logger, string consumer, string topics);

    [LoggerMessage(EventId = 2061, Level = LogLevel.Information, Message = "Consumer {Consumer}: created the retry topics {Topics}")]
    public static partial void RetryTopicsCreated(ILogger logger, string consumer, string topics);

    [LoggerMessage(EventId = 2062, Level = LogLevel.Warning, Message = "Consumer {Consumer} could not read the committed offsets and metadata of {Partitions} ({ErrorCode}: {Reason}); they may hold keys parked by their previous owner, so the partitions take no records until it is read (tried again every second)")]
    private static partial void CommittedUnreadCore(ILogger logger, string consumer, string partitions, ErrorCode errorCode, string reason);

    [LoggerMessage(EventId = 2055, Level = LogLevel.Warning, Message = "Consumer {Consumer}: writing to the parking topic {Topic} failed ({Reason}); the record stays unfinished and its keys parked, and the write is tried again in {PauseMs} ms")]
    public static partial void ParkingWriteFailed(ILogger logger, string consumer, string topic, long pauseMs, string reason);

    [LoggerMessage(EventId = 2056, Level = LogLevel.Error, Message = "Consumer {Consumer}: reading the parking topic {Topic} failed; keys parked on this member's partitions are not released until it works again")]
    public static partial void ParkingReadFailed(ILogger logger, string consumer, string topic, Exception exception);

    [LoggerMessage(EventId = 2057, Level = LogLevel.Warning, Message = "Consumer {Consumer}: sending {Topic} [{Partition}] @{Offset} to the retry topic {RetryTopic} failed ({Reason}); the record stays unfinished and the write is tried again in {PauseMs} ms")]
    private static partial void RetrySendFailedCore(ILogger logger, string consumer, string topic, int partition, long offset, string retryTopic, long pauseMs, string reason);

    [LoggerMessage(EventId = 2058, Level = LogLevel.Warning, Message = "Consumer {Consumer}: {Topic} [{Partition}] has more keys parked than its commit metadata holds ({Max}, RetryTopic:MaxParkedKeysPerPartition); its commits stay at @{Offset} until enough keys are released, so a crash or a rebalance meanwhile makes its next owner handle the records from there again")]
    private static partial void ParkedKeysBeyondMetadataCore(ILogger logger, string consumer, string topic, int partition, int max, long offset);

    [LoggerMessage(EventId = 2059, Level = LogLevel.Information, Message = "Consumer {Consumer}: {Topic} [{Partition}] @{Offset} failed ({ExceptionType}: {Reason}) and goes to the retry topic {RetryTopic}, to be handled again from {NotBefore:O}")]
    private static partial void RetryScheduledCore(ILogger logger, string consumer, string topic, int partition, long offset, string exceptionType, string reason, string retryTopic, DateTimeOffset notBefore);

    [LoggerMessage(EventId = 2060, Level = LogLevel.Information, Message = "Consumer {Consumer}: {Topic} [{Partition}] resumes with {Count} parked keys from the previous owner's commit")]
    private static partial void ParkedKeysRestoredCore(ILogger logger, string consumer, string topic, int partition, int count);

    [LoggerMessage(EventId = 2037, Level = LogLevel.Warning, Message = "Purging the deduplication store {Store} failed ({Reason}); it is tried again in {IntervalMs} ms")]
    public static partial void PurgeFailed(ILogger logger, string store, long intervalMs, string reason);

    [LoggerMessage(EventId = 2038, Level = LogLevel.Debug, Message = "Purged {Count} entries older than the retention from the deduplication store {Store}")]
    public static partial void Purged(ILogger logger, string store, long count);

    [LoggerMessage(EventId = 3001, Message = "librdkafka {Client} {Facility}: {Message}")]
    public static partial void Librdkafka(ILogger logger, LogLevel level, string client, string facility, string message);

    // Wrappers: format collections and configurations only when the level is enabled. Every call below is
    // guarded by IsEnabled; CA1873 does not see guards around static [LoggerMessage] methods (dotnet/sdk#50893).
#pragma warning disable CA1873
    public static void PartitionStalled(ILogger logger, string consumer, TopicPartition partition, long elapsedMs) =>
        PartitionStalledCore(logger, consumer, partition.Topic, partition.Partition.Value, elapsedMs);

    public static void CommittedUnread(ILogger logger, string consumer, IEnumerable<TopicPartition> partitions, Error error)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            CommittedUnreadCore(logger, consumer, string.Join(", ", partitions), error.Code, error.Reason);
        }
    }

    public static void RetrySendFailed(ILogger logger, string consumer, TopicPartitionOffset record, string retryTopic, long pauseMs, string reason) =>
        RetrySendFailedCore(logger, consumer, record.Topic, record.Partition.Value, record.Offset.Value, retryTopic, pauseMs, reason);

    public static void ParkedKeysBeyondMetadata(ILogger logger, string consumer, TopicPartitionOffset record, int max) =>
        ParkedKeysBeyondMetadataCore(logger, consumer, record.Topic, record.Partition.Value, max, record.Offset.Value);

    public static void RetryScheduled(ILogger logger, string consumer, TopicPartitionOffset record, Exception error, string retryTopic, DateTimeOffset notBefore)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            RetryScheduledCore(logger, consumer, record.Topic, record.Partition.Value, record.Offset.Value, error.GetType().Name, error.Message, retryTopic, notBefore);
        }
    }

    public static void ParkedKeysRestored(ILogger logger, string consumer, TopicPartition partition, int count) =>
        ParkedKeysRestoredCore(logger, consumer, partition.Topic, partition.Partition.Value, count);

    public static void MetadataTooLarge(ILogger logger, string consumer, TopicPartition partition, int length, int limit) =>
        MetadataTooLargeCore(logger, consumer, partition.Topic, partition.Partition.Value, length, limit);

    public static void ConsumerFailed(ILogger logger, string consumer, Exception exception)
    {
        if (logger.IsEnabled(LogLevel.Critical))
        {
            ConsumerFailedCore(logger, consumer, exception.GetType().Name, exception.Message, exception);
        }
    }

    public static void ProducerCreated(ILogger logger, KafkaClientConfig config)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            ProducerCreatedCore(logger, config.Name, config.Guarantee, config.ToString());
        }
    }

    public static void ConsumerStarting(ILogger logger, KafkaClientConfig config, ConsumerOptions options)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            ConsumerStartingCore(logger, config.Name, options.GroupId ?? string.Empty, string.Join(", ", options.Topics), config.Guarantee);
        }

        if (logger.IsEnabled(LogLevel.Debug))
        {
            ConsumerConfigurationCore(logger, config.Name, config.ToString());
        }
    }

    public static void PartitionsAssigned(ILogger logger, string consumer, ICollection<TopicPartition> partitions)
    {
        // Cooperative rebalances that give this member nothing new are not worth a line.
        if (partitions.Count > 0 && logger.IsEnabled(LogLevel.Information))
        {
            PartitionsAssignedCore(logger, consumer, Describe(partitions));
        }
    }

    public static void PartitionsRevoked(ILogger logger, string consumer, ICollection<TopicPartitionOffset> partitions)
    {
        if (partitions.Count > 0 && logger.IsEnabled(LogLevel.Information))
        {
            PartitionsRevokedCore(logger, consumer, Describe(partitions.Select(p => p.TopicPartition)));
        }
    }

    public static void PartitionsLost(ILogger logger, string consumer, IEnumerable<TopicPartitionOffset> partitions)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            PartitionsLostCore(logger, consumer, Describe(partitions.Select(p => p.TopicPartition)));
        }
    }

    public static void Committed(ILogger logger, string consumer, IEnumerable<TopicPartitionOffset> offsets, string reason)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            CommittedCore(logger, consumer, Describe(offsets), reason);
        }
    }

    public static void CommitFailed(ILogger logger, string consumer, IEnumerable<TopicPartitionOffset> offsets, string reason, Error error)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            CommitFailedCore(logger, consumer, Describe(offsets), reason, error.Code, error.Reason);
        }
    }

    public static void CommitFailedFinal(ILogger logger, string consumer, IEnumerable<TopicPartitionOffset> offsets, string reason, Error error)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            CommitFailedFinalCore(logger, consumer, Describe(offsets), reason, error.Code, error.Reason);
        }
    }

    public static void HandlersAbandoned(ILogger logger, string consumer, IEnumerable<TopicPartition> partitions, TimeSpan timeout, string reason)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            HandlersAbandonedCore(logger, consumer, Describe(partitions), (long)timeout.TotalMilliseconds, reason);
        }
    }

    public static void AttemptFailed(ILogger logger, string consumer, TopicPartition partition, long offset, int attempt, Exception exception)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            AttemptFailedCore(logger, consumer, partition.Topic, partition.Partition.Value, offset, attempt, exception.GetType().Name, exception.Message);
        }
    }

    public static void DeserializationFailed(ILogger logger, string consumer, TopicPartition partition, long offset, TimeSpan pause, Exception exception)
    {
        if (logger.IsEnabled(LogLevel.Error))
        {
            DeserializationFailedCore(logger, consumer, partition.Topic, partition.Partition.Value, offset, (long)pause.TotalMilliseconds, exception.GetType().Name, exception.Message);
        }
    }

    public static void GapFull(ILogger logger, string consumer, TopicPartition partition, long offset, long watermark)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            GapFullCore(logger, consumer, partition.Topic, partition.Partition.Value, offset, watermark);
        }
    }

    public static void MetadataIgnored(ILogger logger, string consumer, TopicPartition partition, string reason) =>
        MetadataIgnoredCore(logger, consumer, partition.Topic, partition.Partition.Value, reason);

    public static void CommittedReadFailed(ILogger logger, string consumer, IEnumerable<TopicPartition> partitions, Error error)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            CommittedReadFailedCore(logger, consumer, Describe(partitions), error.Code, error.Reason);
        }
    }

    public static void ResumingPastFinished(ILogger logger, string consumer, TopicPartition partition, long offset, int count) =>
        ResumingPastFinishedCore(logger, consumer, partition.Topic, partition.Partition.Value, offset, count);

    public static void MetadataNotWritten(ILogger logger, string consumer, TopicPartition partition, string reason) =>
        MetadataNotWrittenCore(logger, consumer, partition.Topic, partition.Partition.Value, reason);
#pragma warning restore CA1873

    /// <summary>Renders partitions as <c>orders [0], orders [3]</c>.</summary>
    public static string Describe(IEnumerable<TopicPartition> partitions) =>
        string.Join(", ", partitions.Select(p => $"{p.Topic} [{p.Partition.Value}]"));

    /// <summary>Renders offsets as <c>orders [0] @42</c>.</summary>
    public static string Describe(IEnumerable<TopicPartitionOffset> offsets) =>
        string.Join(", ", offsets.Select(o => $"{o.Topic} [{o.Partition.Value}] @{o.Offset.Value}"));

    /// <summary>Forwards a librdkafka log line (Confluent's log handler) to the logger.</summary>
    public static void Librdkafka(ILogger logger, LogMessage message)
    {
        var level = ToLogLevel(message.Level);
        if (logger.IsEnabled(level))
        {
            Librdkafka(logger, level, message.Name, message.Facility, message.Message);
        }
    }

    /// <summary>Maps librdkafka's syslog levels; its notices are routine (connections, metadata) and go to Information.</summary>
    public static LogLevel ToLogLevel(SyslogLevel level) => level switch
    {
        SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical => LogLevel.Critical,
        SyslogLevel.Error => LogLevel.Error,
        SyslogLevel.Warning => LogLevel.Warning,
        SyslogLevel.Notice => LogLevel.Information,
        SyslogLevel.Info => LogLevel.Debug,
        _ => LogLevel.Trace,
    };
}
