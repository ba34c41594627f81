namespace ReliableKafka.Testing;

/// <summary>
/// Kafka protocol request types (API keys), for injecting errors into and tracking requests of the
/// <see cref="EmbeddedKafkaCluster"/>. The numeric values are the protocol's API keys.
/// </summary>
#pragma warning disable CA1028 // The underlying type is the protocol's int16 API key.
public enum KafkaApi : short
#pragma warning restore CA1028
{
    /// <summary>Produce (writes record batches to partition leaders).</summary>
    Produce = 0,

    /// <summary>Fetch (reads record batches).</summary>
    Fetch = 1,

    /// <summary>ListOffsets (earliest, latest or by-timestamp offsets).</summary>
    ListOffsets = 2,

    /// <summary>Metadata (brokers, topics, partitions, leaders).</summary>
    Metadata = 3,

    /// <summary>OffsetCommit (consumer group offset commits).</summary>
    OffsetCommit = 8,

    /// <summary>OffsetFetch (reads a group's committed offsets).</summary>
    OffsetFetch = 9,

    /// <summary>FindCoordinator (locates the group or transaction coordinator).</summary>
    FindCoordinator = 10,

    /// <summary>JoinGroup (classic consumer group protocol).</summary>
    JoinGroup = 11,

    /// <summary>Heartbeat (classic consumer group protocol).</summary>
    Heartbeat = 12,

    /// <summary>LeaveGroup (classic consumer group protocol).</summary>
    LeaveGroup = 13,

    /// <summary>SyncGroup (classic consumer group protocol).</summary>
    SyncGroup = 14,

    /// <summary>DescribeGroups.</summary>
    DescribeGroups = 15,

    /// <summary>ListGroups.</summary>
    ListGroups = 16,

    /// <summary>SaslHandshake.</summary>
    SaslHandshake = 17,

    /// <summary>ApiVersions (protocol version negotiation).</summary>
    ApiVersions = 18,

    /// <summary>CreateTopics.</summary>
    CreateTopics = 19,

    /// <summary>DeleteTopics.</summary>
    DeleteTopics = 20,

    /// <summary>DeleteRecords.</summary>
    DeleteRecords = 21,

    /// <summary>InitProducerId (idempotent and transactional producers).</summary>
    InitProducerId = 22,

    /// <summary>OffsetForLeaderEpoch (log truncation detection).</summary>
    OffsetForLeaderEpoch = 23,

    /// <summary>AddPartitionsToTxn.</summary>
    AddPartitionsToTxn = 24,

    /// <summary>AddOffsetsToTxn.</summary>
    AddOffsetsToTxn = 25,

    /// <summary>EndTxn (commit or abort a transaction).</summary>
    EndTxn = 26,

    /// <summary>TxnOffsetCommit (offsets sent to a transaction).</summary>
    TxnOffsetCommit = 28,

    /// <summary>DescribeConfigs.</summary>
    DescribeConfigs = 32,

    /// <summary>AlterConfigs.</summary>
    AlterConfigs = 33,

    /// <summary>SaslAuthenticate.</summary>
    SaslAuthenticate = 36,

    /// <summary>CreatePartitions.</summary>
    CreatePartitions = 37,

    /// <summary>DeleteGroups.</summary>
    DeleteGroups = 42,

    /// <summary>IncrementalAlterConfigs.</summary>
    IncrementalAlterConfigs = 44,

    /// <summary>OffsetDelete.</summary>
    OffsetDelete = 47,

    /// <summary>DescribeCluster.</summary>
    DescribeCluster = 60,

    /// <summary>DescribeProducers.</summary>
    DescribeProducers = 61,

    /// <summary>DescribeTransactions.</summary>
    DescribeTransactions = 65,

    /// <summary>ListTransactions.</summary>
    ListTransactions = 66,

    /// <summary>ConsumerGroupHeartbeat (KIP-848 consumer group protocol).</summary>
    ConsumerGroupHeartbeat = 68,

    /// <summary>ConsumerGroupDescribe (KIP-848 consumer group protocol).</summary>
    ConsumerGroupDescribe = 69,

    /// <summary>GetTelemetrySubscriptions (KIP-714 client metrics).</summary>
    GetTelemetrySubscriptions = 71,

    /// <summary>PushTelemetry (KIP-714 client metrics).</summary>
    PushTelemetry = 72,
}
