using System.Runtime.InteropServices;
using Confluent.Kafka;
using ReliableKafka.Native.Internal;

namespace ReliableKafka.Producing.Internal;

/// <summary>librdkafka's <c>rd_kafka_purge</c>, which Confluent.Kafka does not expose.</summary>
internal static partial class ProducerPurge
{
    private const string Library = LibrdkafkaLibrary.Name;

    // rdkafka.h: RD_KAFKA_PURGE_F_QUEUE, RD_KAFKA_PURGE_F_INFLIGHT, RD_KAFKA_PURGE_F_NON_BLOCKING.
    private const int Queue = 0x1;
    private const int InFlight = 0x2;
    private const int NonBlocking = 0x4;

    static ProducerPurge() => LibrdkafkaLibrary.EnsureResolver();

    /// <summary>
    /// Fails every message still queued or in flight with <see cref="ErrorCode.Local_PurgeQueue"/> or
    /// <see cref="ErrorCode.Local_PurgeInflight"/> (an in-flight one may still have been written); their delivery reports
    /// are served by the next poll.
    /// </summary>
    public static void All(IProducer<byte[]?, byte[]?> producer) =>
        ClientHandle.Use(producer, rk =>
        {
            var error = (ErrorCode)RdKafkaPurge(rk, Queue | InFlight | NonBlocking);
            if (error != ErrorCode.NoError)
            {
                throw new KafkaException(error);
            }
        });

    [LibraryImport(Library, EntryPoint = "rd_kafka_purge")]
    private static partial int RdKafkaPurge(IntPtr rk, int purgeFlags);
}
