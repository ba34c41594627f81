namespace ReliableKafka;

/// <summary>What a consumer does with a record whose handler still fails after its retries (or that cannot be deserialized).</summary>
public enum FailurePolicy
{
    /// <summary>
    /// The default. The record's original key, value and headers are written to the dead-letter topic with
    /// diagnostic headers (see <see cref="ReliableKafkaHeaders"/>); only once that write is acknowledged does the
    /// record count as finished, so its offset can be committed. Later records of its key go on.
    /// </summary>
    DeadLetter = 0,

    /// <summary>The record's partition stops: nothing at or past the record is committed; other partitions go on.</summary>
    PausePartition = 1,

    /// <summary>
    /// The consumer stops: it commits up to the failed record (never past it), leaves the group, and its hosted
    /// service ends with a <see cref="ConsumerStoppedException"/>, so the host's
    /// <c>BackgroundServiceExceptionBehavior</c> decides what happens next (by default the host stops).
    /// </summary>
    StopConsumer = 2,

    /// <summary>The failure is logged and the record counts as finished: it is lost on purpose.</summary>
    Skip = 3,

    /// <summary>
    /// Non-blocking retries (<see cref="ConsumerOptions.RetryTopic"/>): the record is written to the consumer's first retry
    /// topic (<c>&lt;topic&gt;.retry.&lt;backoff&gt;</c>, which the consumer also reads) and handled again there once its
    /// backoff has passed, then to the next one, and after the last one to the dead-letter topic. The record counts as
    /// finished once its copy is acknowledged, so its partition goes on meanwhile. With
    /// <see cref="RetryTopicOptions.KeyOrder"/> <see cref="KeyOrderOnFailure.Park"/> (the default), the later records of its
    /// key follow it through the retry topics in order instead of overtaking it.
    /// </summary>
    RetryTopic = 4,
}
