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
/// Confluent.Kafka does not expose the native handle publicly (<see cref="ClientHandle"/>). The handle is
/// reference-counted for the duration of each call, and while a commit sent by <see cref="BeginCommit"/> is pending.
/// </remarks>
internal sealed unsafe partial class NativeGroupOffsetStore : IGroupOffsetStore
{
    private const string Library = LibrdkafkaLibrary.Name;

    static NativeGroupOffsetStore() => LibrdkafkaLibrary.EnsureResolver();

    public static NativeGroupOffsetStore Instance { get; } = new();

    public void Commit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets, TimeSpan timeout)
    {
        using var pending = (PendingCommit)BeginCommit(consumer, offsets);
        var deadline = Environment.TickCount64 + (long)Math.Max(1, timeout.TotalMilliseconds);
        while (!pending.Wait((int)Math.Max(0, deadline - Environment.TickCount64)))
        {
            if (Environment.TickCount64 >= deadline)
            {
                // The result, when it comes, goes to a queue nobody reads; the next commit says the same again.
                throw new KafkaException(new Error(ErrorCode.Local_TimedOut, $"The offset commit did not complete within {timeout.TotalMilliseconds:0} ms."));
            }
        }
    }

    public IPendingCommit BeginCommit(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<OffsetCommit> offsets)
    {
        var handle = ClientHandle.Of(consumer);
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            // The client stays alive (Confluent's dispose is deferred) until the pending commit is disposed.
            var rk = handle.DangerousGetHandle();
            var queue = QueueNew(rk);
            try
            {
                Send(rk, queue, offsets);
                return new PendingCommit(handle, queue, offsets);
            }
            catch
            {
                QueueDestroy(queue);
                throw;
            }
        }
        catch
        {
            handle.DangerousRelease();
            throw;
        }
    }

    /// <summary>Sends the commit to librdkafka, which replies on <paramref name="queue"/>.</summary>
    private static void Send(IntPtr rk, IntPtr queue, IReadOnlyList<OffsetCommit> offsets)
    {
        var buffers = new List<IntPtr>();
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

            // The request takes a copy of the list (metadata included): our buffers are free once this returns.
            var error = (ErrorCode)RdKafkaCommitQueue(rk, list, queue, IntPtr.Zero, IntPtr.Zero);
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
    }

    /// <summary>A commit in flight: its reply queue, and a reference on the client that keeps it alive.</summary>
    private sealed class PendingCommit(SafeHandle handle, IntPtr queue, IReadOnlyList<OffsetCommit> offsets) : IPendingCommit
    {
        private bool _done;
        private bool _disposed;

        public IReadOnlyList<OffsetCommit> Offsets { get; } = offsets;

        public bool TryComplete() => Wait(0);

        public bool Wait(TimeSpan timeout)
        {
            // rd_kafka_queue_poll may return before its timeout: wait until the deadline, at least a millisecond.
            var deadline = Environment.TickCount64 + (long)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue);
            while (!Wait((int)Math.Max(0, deadline - Environment.TickCount64)))
            {
                if (Environment.TickCount64 >= deadline)
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>Waits up to <paramref name="timeoutMs"/> for the result; see <see cref="IPendingCommit.TryComplete"/>.</summary>
        public bool Wait(int timeoutMs)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_done)
            {
                return true;
            }

            var deadline = Environment.TickCount64 + timeoutMs;
            while (true)
            {
                var ev = QueuePoll(queue, (int)Math.Max(0, deadline - Environment.TickCount64));
                if (ev == IntPtr.Zero)
                {
                    return false;
                }

                try
                {
                    if (EventType(ev) != OffsetCommitEvent)
                    {
                        continue;
                    }

                    _done = true;
                    ThrowIfFailed((ErrorCode)EventError(ev), EventTopicPartitionList(ev), Offsets);
                    return true;
                }
                finally
                {
                    EventDestroy(ev);
                }
            }
        }

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;

            // A result that comes later goes to a queue nobody reads any more.
            QueueDestroy(queue);
            handle.DangerousRelease();
        }
    }

    /// <summary>
    /// Reads the result list. librdkafka sorts a commit's partitions by topic and partition before sending and returns
    /// the sorted list, so results are matched to the request by topic and partition, never by position.
    /// </summary>
    private static void ThrowIfFailed(ErrorCode error, TopicPartitionList* result, IReadOnlyList<OffsetCommit> offsets)
    {
        var returned = new Dictionary<TopicPartition, ErrorCode>(offsets.Count);
        for (var i = 0; result is not null && i < result->Count; i++)
        {
            var element = &result->Elements[i];
            var topic = Marshal.PtrToStringUTF8(element->Topic) ?? string.Empty;
            returned[new TopicPartition(topic, element->Partition)] = (ErrorCode)element->Err;
        }

        if (MatchResults(offsets, returned, error) is { } failed)
        {
            throw failed;
        }

        if (error != ErrorCode.NoError)
        {
            throw new KafkaException(error);
        }
    }

    /// <summary>
    /// The per-partition outcome of a commit, in request order: each partition's own error, or the request's error when
    /// the result does not name it. Null when no partition failed.
    /// </summary>
    internal static TopicPartitionOffsetException? MatchResults(IReadOnlyList<OffsetCommit> offsets, IReadOnlyDictionary<TopicPartition, ErrorCode> returned, ErrorCode requestError)
    {
        var results = new List<TopicPartitionOffsetError>(offsets.Count);
        var failed = false;
        foreach (var commit in offsets)
        {
            var code = returned.TryGetValue(commit.Partition, out var own) ? own : requestError;
            failed |= code != ErrorCode.NoError;
            results.Add(new TopicPartitionOffsetError(commit.Partition, commit.Offset, new Error(code)));
        }

        return failed && returned.Count > 0 ? new TopicPartitionOffsetException(results) : null;
    }

    public IReadOnlyList<CommittedOffset> ReadCommitted(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<TopicPartition> partitions, TimeSpan timeout)
    {
        var result = new List<CommittedOffset>(partitions.Count);
        ClientHandle.Use(consumer, rk =>
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
                    if ((ErrorCode)element->Err != ErrorCode.NoError)
                    {
                        // A partition whose offset could not be read is not one without a commit: its metadata is unknown.
                        result.Add(new CommittedOffset(partitions[i], Offset.Unset.Value, null) { Error = (ErrorCode)element->Err });
                        continue;
                    }

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
