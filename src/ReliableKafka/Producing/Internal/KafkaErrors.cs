using Confluent.Kafka;

namespace ReliableKafka.Producing.Internal;

/// <summary>Which Kafka errors are transient: the same request may succeed later (Kafka's RetriableException family, plus librdkafka's local timeouts).</summary>
internal static class KafkaErrors
{
    private static readonly HashSet<ErrorCode> Retriable =
    [
        ErrorCode.Local_MsgTimedOut,
        ErrorCode.Local_Transport,
        ErrorCode.Local_AllBrokersDown,
        ErrorCode.Local_TimedOut,
        ErrorCode.Local_TimedOutQueue,
        ErrorCode.Local_QueueFull,
        ErrorCode.Local_Retry,
        ErrorCode.Local_WaitCoord,
        ErrorCode.Local_Resolve,
        ErrorCode.Local_UnknownPartition,
        ErrorCode.Local_PurgeQueue,
        ErrorCode.Local_PurgeInflight,
        ErrorCode.RequestTimedOut,
        ErrorCode.NotLeaderForPartition,
        ErrorCode.LeaderNotAvailable,
        ErrorCode.BrokerNotAvailable,
        ErrorCode.ReplicaNotAvailable,
        ErrorCode.NotEnoughReplicas,
        ErrorCode.NotEnoughReplicasAfterAppend,
        ErrorCode.NetworkException,
        ErrorCode.UnknownTopicOrPart,
        ErrorCode.GroupLoadInProgress,
        ErrorCode.GroupCoordinatorNotAvailable,
        ErrorCode.NotCoordinatorForGroup,
        ErrorCode.KafkaStorageError,
        ErrorCode.FencedLeaderEpoch,
        ErrorCode.UnknownLeaderEpoch,
        ErrorCode.OffsetNotAvailable,
        ErrorCode.PreferredLeaderNotAvailable,
        ErrorCode.ThrottlingQuotaExceeded,
        ErrorCode.ConcurrentTransactions,
        ErrorCode.RebalanceInProgress,
    ];

    /// <summary>Whether a request that failed with <paramref name="code"/> may succeed if made again.</summary>
    public static bool IsRetriable(ErrorCode code) => Retriable.Contains(code);
}
