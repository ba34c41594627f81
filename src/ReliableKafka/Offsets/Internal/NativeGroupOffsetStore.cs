using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;
using ReliableKafka.Native.Internal;

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
    private const string Library = LibrdkafkaLibrary.Name;

    private static readonly PropertyInfo HandleProperty =
        typeof(Handle).GetProperty("LibrdkafkaHandle", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException(
            "Confluent.Kafka's Handle has no LibrdkafkaHandle property: this Confluent.Kafka version is not supported by ReliableKafka's offset store.");

    static NativeGroupOffsetStore() => LibrdkafkaLibrary.EnsureResolver();

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

                CommitAndWait(rk, list, offsets);
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

    /// <summary>
    /// Commits through a queue of its own and waits at most <see cref="CommitTimeout"/> for the result. librdkafka's
    /// synchronous commit waits without a limit, and while the group has no coordinator it keeps the request until
    /// it finds one, which would block the poll thread (no polling, no shutdown) for as long.
    /// </summary>
    private static void CommitAndWait(IntPtr rk, TopicPartitionList* list, IReadOnlyList<OffsetCommit> offsets)
    {
        var queue = QueueNew(rk);
        try
        {
            // The request takes a copy of the list (metadata included): our buffers are free once this returns.
            var error = (ErrorCode)RdKafkaCommitQueue(rk, list, queue, IntPtr.Zero, IntPtr.Zero);
            if (error != ErrorCode.NoError)
            {
                throw new KafkaException(error);
            }

            var deadline = Environment.TickCount64 + (long)CommitTimeout.TotalMilliseconds;
            while (true)
            {
                var remaining = deadline - Environment.TickCount64;
                if (remaining <= 0)
                {
                    // The result, when it comes, goes to a queue nobody reads; the next commit says the same again.
                    throw new KafkaException(new Error(ErrorCode.Local_TimedOut, $"The offset commit did not complete within {CommitTimeout.TotalSeconds:0} s."));
                }

                var ev = QueuePoll(queue, (int)remaining);
                if (ev == IntPtr.Zero)
                {
                    continue;
                }

                try
                {
                    if (EventType(ev) != OffsetCommitEvent)
                    {
                        continue;
                    }

                    ThrowIfFailed((ErrorCode)EventError(ev), EventTopicPartitionList(ev), offsets);
                    return;
                }
                finally
                {
                    EventDestroy(ev);
                }
            }
        }
        finally
        {
            QueueDestroy(queue);
        }
    }

    private static void ThrowIfFailed(ErrorCode error, TopicPartitionList* result, IReadOnlyList<OffsetCommit> offsets)
    {
        var results = new List<TopicPartitionOffsetError>(offsets.Count);
        var failed = false;
        for (var i = 0; result is not null && i < result->Count && i < offsets.Count; i++)
        {
            var element = &result->Elements[i];
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

    /// <summary>rdkafka.h: RD_KAFKA_EVENT_OFFSET_COMMIT.</summary>
    private const int OffsetCommitEvent = 0x20;

    /// <summary>How long a commit may take before it counts as failed (and is tried again later).</summary>
    internal static readonly TimeSpan CommitTimeout = TimeSpan.FromSeconds(10);

    [LibraryImport(Library, EntryPoint = "rd_kafka_commit_queue")]
    private static partial int RdKafkaCommitQueue(IntPtr rk, TopicPartitionList* offsets, IntPtr queue, IntPtr callback, IntPtr opaque);

    [LibraryImport(Library, EntryPoint = "rd_kafka_queue_new")]
    private static partial IntPtr QueueNew(IntPtr rk);

    [LibraryImport(Library, EntryPoint = "rd_kafka_queue_destroy")]
    private static partial void QueueDestroy(IntPtr queue);

    [LibraryImport(Library, EntryPoint = "rd_kafka_queue_poll")]
    private static partial IntPtr QueuePoll(IntPtr queue, int timeoutMs);

    [LibraryImport(Library, EntryPoint = "rd_kafka_event_type")]
    private static partial int EventType(IntPtr ev);

    [LibraryImport(Library, EntryPoint = "rd_kafka_event_error")]
    private static partial int EventError(IntPtr ev);

    [LibraryImport(Library, EntryPoint = "rd_kafka_event_topic_partition_list")]
    private static partial TopicPartitionList* EventTopicPartitionList(IntPtr ev);

    [LibraryImport(Library, EntryPoint = "rd_kafka_event_destroy")]
    private static partial void EventDestroy(IntPtr ev);

    [LibraryImport(Library, EntryPoint = "rd_kafka_committed")]
    private static partial int RdKafkaCommitted(IntPtr rk, TopicPartitionList* partitions, int timeoutMs);
}
