using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;

namespace ReliableKafka.Offsets.Internal;

/// <summary>
/// Commits and reads offsets with metadata through librdkafka (rd_kafka_commit, rd_kafka_committed) on the
/// consumer's own librdkafka handle: the group, member and generation are the consumer's, exactly as when
/// Confluent.Kafka commits.
/// </summary>
/// <remarks>
/// Confluent.Kafka does not expose the native handle publicly; it is read from its Handle with reflection
/// (Confluent.Kafka's version is pinned; a startup check fails loudly if the member moves). The handle is
/// reference-counted for the duration of each call, so a concurrent dispose cannot free it underneath.
/// </remarks>
internal sealed unsafe partial class NativeGroupOffsetStore : IGroupOffsetStore
{
    private const string Library = "librdkafka";

    private static readonly PropertyInfo HandleProperty =
        typeof(Handle).GetProperty("LibrdkafkaHandle", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException(
            "Confluent.Kafka's Handle has no LibrdkafkaHandle property: this Confluent.Kafka version is not supported by ReliableKafka's offset store.");

    public static NativeGroupOffsetStore Instance { get; } = new();

    public void Commit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets)
    {
        var buffers = new List<IntPtr>();
        UseHandle(consumer, rk =>
        {
            var list = ListNew(offsets.Count);
            try
            {
                foreach (var commit in offsets)
                {
                    var element = ListAdd(list, commit.Partition.Topic, commit.Partition.Partition.Value);
                    element->Offset = commit.Offset;
                    if (commit.LeaderEpoch is { } epoch)
                    {
                        SetLeaderEpoch(element, epoch);
                    }

                    if (commit.Metadata is { } metadata)
                    {
                        var bytes = Encoding.UTF8.GetBytes(metadata);
                        var buffer = Marshal.AllocHGlobal(bytes.Length);
                        buffers.Add(buffer);
                        Marshal.Copy(bytes, 0, buffer, bytes.Length);
                        element->Metadata = buffer;
                        element->MetadataSize = (nuint)bytes.Length;
                    }
                }

                // A synchronous commit copies the list for its request: our metadata buffers are free after it returns.
                var error = (ErrorCode)RdKafkaCommit(rk, list, 0);
                var results = new List<TopicPartitionOffsetError>(offsets.Count);
                var failed = false;
                for (var i = 0; i < list->Count; i++)
                {
                    var element = &list->Elements[i];
                    var code = (ErrorCode)element->Err;
                    failed |= code != ErrorCode.NoError;
                    results.Add(new TopicPartitionOffsetError(offsets[i].Partition, element->Offset, new Error(code), null));
                }

                if (failed)
                {
                    throw new TopicPartitionOffsetException(results);
                }

                if (error != ErrorCode.NoError)
                {
                    throw new KafkaException(error);
                }
            }
            finally
            {
                for (var i = 0; i < list->Count; i++)
                {
                    // Ours, not librdkafka's: keep its destroy from freeing them.
                    list->Elements[i].Metadata = IntPtr.Zero;
                    list->Elements[i].MetadataSize = 0;
                }

                ListDestroy(list);
                buffers.ForEach(Marshal.FreeHGlobal);
            }
        });
    }

    public IReadOnlyList<CommittedOffset> ReadCommitted(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<TopicPartition> partitions, TimeSpan timeout)
    {
        var result = new List<CommittedOffset>(partitions.Count);
        UseHandle(consumer, rk =>
        {
            var list = ListNew(partitions.Count);
            try
            {
                foreach (var partition in partitions)
                {
                    ListAdd(list, partition.Topic, partition.Partition.Value);
                }

                var error = (ErrorCode)RdKafkaCommitted(rk, list, (int)Math.Clamp(timeout.TotalMilliseconds, 0, int.MaxValue));
                if (error != ErrorCode.NoError)
                {
                    throw new KafkaException(error);
                }

                for (var i = 0; i < list->Count; i++)
                {
                    var element = &list->Elements[i];
                    var metadata = element->Metadata == IntPtr.Zero || element->MetadataSize == 0
                        ? null
                        : Encoding.UTF8.GetString((byte*)element->Metadata, (int)element->MetadataSize);
                    result.Add(new CommittedOffset(partitions[i], element->Offset, metadata));
                }
            }
            finally
            {
                ListDestroy(list);
            }
        });
        return result;
    }

    private static void UseHandle(IConsumer<byte[]?, byte[]?> consumer, Action<IntPtr> use)
    {
        var handle = (SafeHandle)(HandleProperty.GetValue(consumer.Handle)
            ?? throw new InvalidOperationException("The consumer has no librdkafka handle."));
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            use(handle.DangerousGetHandle());
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TopicPartitionElement
    {
        public IntPtr Topic;
        public int Partition;
        public long Offset;
        public IntPtr Metadata;
        public nuint MetadataSize;
        public IntPtr Opaque;
        public int Err;
        public IntPtr Private;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TopicPartitionList
    {
        public int Count;
        public int Size;
        public TopicPartitionElement* Elements;
    }

    [LibraryImport(Library, EntryPoint = "rd_kafka_topic_partition_list_new")]
    private static partial TopicPartitionList* ListNew(int size);

    [LibraryImport(Library, EntryPoint = "rd_kafka_topic_partition_list_destroy")]
    private static partial void ListDestroy(TopicPartitionList* list);

    [LibraryImport(Library, EntryPoint = "rd_kafka_topic_partition_list_add", StringMarshalling = StringMarshalling.Utf8)]
    private static partial TopicPartitionElement* ListAdd(TopicPartitionList* list, string topic, int partition);

    [LibraryImport(Library, EntryPoint = "rd_kafka_topic_partition_set_leader_epoch")]
    private static partial void SetLeaderEpoch(TopicPartitionElement* element, int leaderEpoch);

    [LibraryImport(Library, EntryPoint = "rd_kafka_commit")]
    private static partial int RdKafkaCommit(IntPtr rk, TopicPartitionList* offsets, int async);

    [LibraryImport(Library, EntryPoint = "rd_kafka_committed")]
    private static partial int RdKafkaCommitted(IntPtr rk, TopicPartitionList* partitions, int timeoutMs);
}
