using System.Runtime.InteropServices;
using ReliableKafka.Native.Internal;

namespace ReliableKafka.Testing.Internal;

/// <summary>
/// P/Invoke declarations for librdkafka's mock cluster (rdkafka_mock.h), bound to the very librdkafka image
/// that Confluent.Kafka loaded (<see cref="LibrdkafkaLibrary"/>), so the clients and the cluster share one library.
/// </summary>
/// <remarks>
/// C variadic functions cannot be called portably from .NET. Where librdkafka offers an <c>_array</c>
/// variant it is used; the two functions that exist only as variadic are declared with a fixed arity for
/// one error (cnt = 1) and called once per error: on x86-64 System V every argument then travels in an
/// integer register, exactly as a variadic call passes it.
/// </remarks>
internal static unsafe partial class MockClusterNative
{
    private const string Library = LibrdkafkaLibrary.Name;

    static MockClusterNative() => LibrdkafkaLibrary.EnsureResolver();

    internal const int ProducerType = 0; // RD_KAFKA_PRODUCER
    internal const int ConfOk = 0;       // RD_KAFKA_CONF_OK

    [LibraryImport(Library, EntryPoint = "rd_kafka_conf_new")]
    internal static partial IntPtr ConfNew();

    [LibraryImport(Library, EntryPoint = "rd_kafka_conf_destroy")]
    internal static partial void ConfDestroy(IntPtr conf);

    [LibraryImport(Library, EntryPoint = "rd_kafka_conf_set", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int ConfSet(IntPtr conf, string name, string value, byte* errstr, nuint errstrSize);

    [LibraryImport(Library, EntryPoint = "rd_kafka_new")]
    internal static partial IntPtr KafkaNew(int type, IntPtr conf, byte* errstr, nuint errstrSize);

    [LibraryImport(Library, EntryPoint = "rd_kafka_destroy")]
    internal static partial void KafkaDestroy(IntPtr rk);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_cluster_new")]
    internal static partial IntPtr ClusterNew(IntPtr rk, int brokerCount);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_cluster_destroy")]
    internal static partial void ClusterDestroy(IntPtr cluster);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_cluster_bootstraps")]
    internal static partial IntPtr ClusterBootstraps(IntPtr cluster);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_topic_create", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int TopicCreate(IntPtr cluster, string topic, int partitionCount, int replicationFactor);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_topic_delete", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int TopicDelete(IntPtr cluster, string topic);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_partition_set_leader", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int PartitionSetLeader(IntPtr cluster, string topic, int partition, int brokerId);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_partition_delete_records", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int PartitionDeleteRecords(IntPtr cluster, string topic, int partition, long beforeOffset);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_broker_set_down")]
    internal static partial int BrokerSetDown(IntPtr cluster, int brokerId);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_broker_set_up")]
    internal static partial int BrokerSetUp(IntPtr cluster, int brokerId);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_broker_set_rtt")]
    internal static partial int BrokerSetRtt(IntPtr cluster, int brokerId, int rttMs);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_push_request_errors_array")]
    internal static partial void PushRequestErrorsArray(IntPtr cluster, short apiKey, nuint count, int* errors);

    // Variadic in C: (mcluster, broker_id, ApiKey, cnt, [err, rtt_ms]...). Declared for cnt = 1.
    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_broker_push_request_error_rtts")]
    internal static partial int BrokerPushRequestErrorRtt(IntPtr cluster, int brokerId, short apiKey, nuint count, int error, int rttMs);

    // Variadic in C: (mcluster, topic, partition, ApiKey, cnt, [err]...). Declared for cnt = 1.
    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_partition_push_request_errors", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int PartitionPushRequestError(IntPtr cluster, string topic, int partition, short apiKey, nuint count, int error);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_broker_error_stack_cnt")]
    internal static partial int BrokerErrorStackCount(IntPtr cluster, int brokerId, short apiKey, nuint* count);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_clear_request_errors")]
    internal static partial void ClearRequestErrors(IntPtr cluster, short apiKey);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_coordinator_set", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int CoordinatorSet(IntPtr cluster, string keyType, string key, int brokerId);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_group_initial_rebalance_delay_ms")]
    internal static partial void GroupInitialRebalanceDelayMs(IntPtr cluster, int delayMs);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_start_request_tracking")]
    internal static partial void StartRequestTracking(IntPtr cluster);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_stop_request_tracking")]
    internal static partial void StopRequestTracking(IntPtr cluster);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_clear_requests")]
    internal static partial void ClearRequests(IntPtr cluster);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_get_requests")]
    internal static partial IntPtr* GetRequests(IntPtr cluster, nuint* count);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_request_destroy_array")]
    internal static partial void RequestDestroyArray(IntPtr* requests, nuint count);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_request_id")]
    internal static partial int RequestBrokerId(IntPtr request);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_request_api_key")]
    internal static partial short RequestApiKey(IntPtr request);

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_request_timestamp")]
    internal static partial long RequestTimestampMicroseconds(IntPtr request);
}
