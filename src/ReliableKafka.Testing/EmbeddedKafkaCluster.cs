using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;
using ReliableKafka.Testing.Internal;

namespace ReliableKafka.Testing;

/// <summary>
/// An in-process Kafka cluster for tests: librdkafka's mock cluster, speaking the real Kafka protocol on
/// 127.0.0.1 ports, with fault injection. Any Confluent.Kafka client connects to it through
/// <see cref="BootstrapServers"/>.
/// </summary>
/// <remarks>
/// <para>
/// The mock cluster differs from a real one in ways tests must plan for: topics are created with
/// <see cref="CreateTopic"/> (the Admin API's CreateTopics is not served; producing to an unknown topic
/// auto-creates it); replication is not modelled (a broker that goes down loses nothing and leadership does
/// not move by itself: move it with <see cref="SetPartitionLeader"/>); each partition keeps only about
/// 5 MiB or 100,000 batches, dropping older data silently; offsets-for-times lookups return -1; delivery
/// report timestamps are fixed; transactions are not fenced.
/// </para>
/// <para>
/// All members are thread-safe. Dispose the cluster after the clients that use it; clients still connected
/// see the brokers disappear.
/// </para>
/// </remarks>
public sealed class EmbeddedKafkaCluster : IDisposable, IAsyncDisposable
{
    private const int ErrorBufferSize = 512;
    private readonly MockClusterHandle _handle;

    /// <summary>Starts a cluster with the default settings (3 brokers, no initial rebalance delay).</summary>
    public EmbeddedKafkaCluster()
        : this(new EmbeddedKafkaClusterOptions())
    {
    }

    /// <summary>Starts a cluster.</summary>
    /// <param name="options">The cluster settings.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    /// <exception cref="EmbeddedKafkaClusterException">librdkafka could not create the cluster.</exception>
    public EmbeddedKafkaCluster(EmbeddedKafkaClusterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BrokerCount, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.GroupInitialRebalanceDelay, TimeSpan.Zero, nameof(options));

        BrokerCount = options.BrokerCount;
        _handle = MockClusterHandle.Create(options.BrokerCount);
        BootstrapServers = Marshal.PtrToStringUTF8(MockClusterNative.ClusterBootstraps(_handle.Cluster))
            ?? throw new EmbeddedKafkaClusterException("The mock cluster reported no bootstrap servers.");
        SetGroupInitialRebalanceDelay(options.GroupInitialRebalanceDelay);
    }

    /// <summary>Gets the bootstrap servers to give clients, e.g. <c>127.0.0.1:40123,127.0.0.1:40125</c>.</summary>
    public string BootstrapServers { get; }

    /// <summary>Gets the number of brokers the cluster started with; broker ids are 1 to this number.</summary>
    public int BrokerCount { get; }

    /// <summary>Creates a topic.</summary>
    /// <param name="topic">The topic name.</param>
    /// <param name="partitions">The number of partitions.</param>
    /// <param name="replicationFactor">The replication factor, at most <see cref="BrokerCount"/>.</param>
    /// <exception cref="EmbeddedKafkaClusterException">The topic exists already, or the mock cluster refused it.</exception>
    public void CreateTopic(string topic, int partitions = 1, int replicationFactor = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicationFactor, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(replicationFactor, BrokerCount);
        using var lease = Acquire();
        Check(MockClusterNative.TopicCreate(lease.Cluster, topic, partitions, replicationFactor), $"Creating topic '{topic}'");
    }

    /// <summary>Deletes a topic and its data.</summary>
    /// <param name="topic">The topic name.</param>
    /// <exception cref="EmbeddedKafkaClusterException">The topic does not exist.</exception>
    public void DeleteTopic(string topic)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        using var lease = Acquire();
        Check(MockClusterNative.TopicDelete(lease.Cluster, topic), $"Deleting topic '{topic}'");
    }

    /// <summary>
    /// Takes a broker down: its open connections are closed and new ones are refused at once (clients try again after
    /// reconnect.backoff.ms); a request a client sent just before may go unanswered until the client's request times
    /// out (about 30 s with librdkafka's defaults: lower request.timeout.ms / socket.timeout.ms in tests that bounce
    /// brokers). Its partitions keep their data and their leader (see <see cref="GetPartitionLeader"/>): move
    /// leadership with <see cref="SetPartitionLeader"/> to simulate a failover.
    /// </summary>
    /// <param name="brokerId">The broker id, 1 to <see cref="BrokerCount"/>.</param>
    public void SetBrokerDown(int brokerId)
    {
        using var lease = Acquire();
        Check(MockClusterNative.BrokerSetDown(lease.Cluster, brokerId), $"Setting broker {brokerId} down");
    }

    /// <summary>Brings a broker back up.</summary>
    /// <param name="brokerId">The broker id, 1 to <see cref="BrokerCount"/>.</param>
    public void SetBrokerUp(int brokerId)
    {
        using var lease = Acquire();
        Check(MockClusterNative.BrokerSetUp(lease.Cluster, brokerId), $"Setting broker {brokerId} up");
    }

    /// <summary>Delays every response of a broker by <paramref name="roundTripTime"/>.</summary>
    /// <param name="brokerId">The broker id.</param>
    /// <param name="roundTripTime">The added delay, with millisecond resolution; zero removes it.</param>
    public void SetBrokerRoundTripTime(int brokerId, TimeSpan roundTripTime)
    {
        var milliseconds = ToMilliseconds(roundTripTime, nameof(roundTripTime));
        using var lease = Acquire();
        Check(MockClusterNative.BrokerSetRtt(lease.Cluster, brokerId, milliseconds), $"Setting the round-trip time of broker {brokerId}");
    }

    /// <summary>Moves the leadership of a partition. Clients find the new leader through their next metadata request.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="partition">The partition.</param>
    /// <param name="brokerId">The new leader, or -1 for no leader (the partition is then unavailable).</param>
    public void SetPartitionLeader(string topic, int partition, int brokerId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        using var lease = Acquire();
        Check(
            MockClusterNative.PartitionSetLeader(lease.Cluster, topic, partition, brokerId),
            $"Setting the leader of {topic} [{partition}] to broker {brokerId}");
    }

    /// <summary>Gets the broker that leads a partition, as the cluster's metadata says (read with a short-lived admin client).</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="partition">The partition.</param>
    /// <returns>The leader's broker id (1 to <see cref="BrokerCount"/>), or -1 when the partition has no leader.</returns>
    /// <exception cref="EmbeddedKafkaClusterException">The topic or partition does not exist, or no broker answered within 10 seconds.</exception>
    public int GetPartitionLeader(string topic, int partition)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentOutOfRangeException.ThrowIfNegative(partition);
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = BootstrapServers })
            .SetLogHandler((_, _) => { })
            .Build();
        Metadata metadata;
        try
        {
            metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10));
        }
        catch (KafkaException e)
        {
            throw new EmbeddedKafkaClusterException($"Reading the metadata of '{topic}' failed: {e.Error.Reason}", e);
        }

        var topicMetadata = metadata.Topics.SingleOrDefault(t => t.Topic == topic);
        if (topicMetadata is null || topicMetadata.Error.IsError)
        {
            throw new EmbeddedKafkaClusterException($"Topic '{topic}' does not exist ({topicMetadata?.Error.Reason ?? "not in the metadata"}).");
        }

        return topicMetadata.Partitions.SingleOrDefault(p => p.PartitionId == partition)?.Leader
            ?? throw new EmbeddedKafkaClusterException($"Topic '{topic}' has no partition {partition} (it has {topicMetadata.Partitions.Count}).");
    }

    /// <summary>Deletes the records of a partition before an offset, as retention would; the log start offset moves there.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="partition">The partition.</param>
    /// <param name="beforeOffset">The first offset to keep.</param>
    public void DeleteRecords(string topic, int partition, long beforeOffset)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentOutOfRangeException.ThrowIfNegative(beforeOffset);
        using var lease = Acquire();
        Check(
            MockClusterNative.PartitionDeleteRecords(lease.Cluster, topic, partition, beforeOffset),
            $"Deleting the records of {topic} [{partition}] before offset {beforeOffset}");
    }

    /// <summary>
    /// Makes the next requests of type <paramref name="api"/>, to whichever broker receives them, fail with
    /// <paramref name="errors"/>: the first such request gets the first error, and so on.
    /// Broker-level errors (<see cref="InjectRequestErrors(int, KafkaApi, InjectedError[])"/>) take precedence.
    /// </summary>
    /// <param name="api">The request type.</param>
    /// <param name="errors">The errors, in order.</param>
    public unsafe void InjectRequestErrors(KafkaApi api, params ErrorCode[] errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (errors.Length == 0)
        {
            return;
        }

        var codes = Array.ConvertAll(errors, e => (int)e);
        using var lease = Acquire();
        fixed (int* p = codes)
        {
            MockClusterNative.PushRequestErrorsArray(lease.Cluster, (short)api, (nuint)codes.Length, p);
        }
    }

    /// <summary>
    /// Makes broker <paramref name="brokerId"/> answer its next requests of type <paramref name="api"/> with
    /// <paramref name="errors"/>, each after its delay, in order.
    /// </summary>
    /// <param name="brokerId">The broker id.</param>
    /// <param name="api">The request type.</param>
    /// <param name="errors">The errors and delays, in order.</param>
    public void InjectRequestErrors(int brokerId, KafkaApi api, params InjectedError[] errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        using var lease = Acquire();
        foreach (var error in errors)
        {
            var milliseconds = ToMilliseconds(error.Delay, nameof(errors));
            Check(
                MockClusterNative.BrokerPushRequestErrorRtt(lease.Cluster, brokerId, (short)api, 1, (int)error.Error, milliseconds),
                $"Injecting {error.Error} into {api} requests of broker {brokerId}");
        }
    }

    /// <summary>
    /// Makes the next requests of type <paramref name="api"/> that reference one partition fail for that
    /// partition only (as the partition-level error code of the response), in order. Other partitions in the
    /// same request are not affected. Cluster and broker errors take precedence.
    /// </summary>
    /// <param name="topic">The topic.</param>
    /// <param name="partition">The partition.</param>
    /// <param name="api">The request type, e.g. <see cref="KafkaApi.Produce"/>.</param>
    /// <param name="errors">The errors, in order.</param>
    public void InjectPartitionRequestErrors(string topic, int partition, KafkaApi api, params ErrorCode[] errors)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentNullException.ThrowIfNull(errors);
        using var lease = Acquire();
        foreach (var error in errors)
        {
            Check(
                MockClusterNative.PartitionPushRequestError(lease.Cluster, topic, partition, (short)api, 1, (int)error),
                $"Injecting {error} into {api} requests for {topic} [{partition}]");
        }
    }

    /// <summary>Gets how many injected errors broker <paramref name="brokerId"/> still holds for requests of type <paramref name="api"/>.</summary>
    /// <param name="brokerId">The broker id.</param>
    /// <param name="api">The request type.</param>
    /// <returns>The number of errors not yet returned.</returns>
    public unsafe int GetPendingRequestErrorCount(int brokerId, KafkaApi api)
    {
        nuint count = 0;
        using var lease = Acquire();
        Check(
            MockClusterNative.BrokerErrorStackCount(lease.Cluster, brokerId, (short)api, &count),
            $"Reading the error stack of broker {brokerId}");
        return (int)count;
    }

    /// <summary>Removes the cluster-level errors still pending for requests of type <paramref name="api"/>.</summary>
    /// <param name="api">The request type.</param>
    public void ClearRequestErrors(KafkaApi api)
    {
        using var lease = Acquire();
        MockClusterNative.ClearRequestErrors(lease.Cluster, (short)api);
    }

    /// <summary>Moves a group or transaction coordinator to another broker (clients find it on their next FindCoordinator).</summary>
    /// <param name="type">The kind of coordinator.</param>
    /// <param name="key">The group id or transactional id.</param>
    /// <param name="brokerId">The new coordinator.</param>
    public void SetCoordinator(CoordinatorType type, string key, int brokerId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        var keyType = type switch
        {
            CoordinatorType.Group => "group",
            CoordinatorType.Transaction => "transaction",
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown coordinator type."),
        };
        using var lease = Acquire();
        Check(MockClusterNative.CoordinatorSet(lease.Cluster, keyType, key, brokerId), $"Moving the {keyType} coordinator of '{key}' to broker {brokerId}");
    }

    /// <summary>Sets how long new consumer groups wait for more members before their first rebalance.</summary>
    /// <param name="delay">The delay, with millisecond resolution.</param>
    public void SetGroupInitialRebalanceDelay(TimeSpan delay)
    {
        var milliseconds = ToMilliseconds(delay, nameof(delay));
        using var lease = Acquire();
        MockClusterNative.GroupInitialRebalanceDelayMs(lease.Cluster, milliseconds);
    }

    /// <summary>Starts recording every request the brokers receive, forgetting anything recorded before (see <see cref="GetRequests"/>).</summary>
    public void StartRequestTracking()
    {
        using var lease = Acquire();
        MockClusterNative.StartRequestTracking(lease.Cluster);
    }

    /// <summary>Stops recording requests and returns what was recorded; the cluster then forgets it.</summary>
    /// <returns>The requests recorded since tracking started (or since <see cref="ClearRequests"/>), oldest first.</returns>
    public IReadOnlyList<TrackedRequest> StopRequestTracking()
    {
        using var lease = Acquire();
        var requests = GetRequests();
        MockClusterNative.StopRequestTracking(lease.Cluster);
        return requests;
    }

    /// <summary>Forgets the recorded requests.</summary>
    public void ClearRequests()
    {
        using var lease = Acquire();
        MockClusterNative.ClearRequests(lease.Cluster);
    }

    /// <summary>Gets the requests recorded since tracking started (or since <see cref="ClearRequests"/>), oldest first.</summary>
    /// <returns>The recorded requests.</returns>
    public unsafe IReadOnlyList<TrackedRequest> GetRequests()
    {
        nuint count = 0;
        using var lease = Acquire();
        var requests = MockClusterNative.GetRequests(lease.Cluster, &count);
        if (requests == null)
        {
            return [];
        }

        try
        {
            var result = new TrackedRequest[(int)count];
            for (var i = 0; i < result.Length; i++)
            {
                var request = requests[i];
                var micros = MockClusterNative.RequestTimestampMicroseconds(request);
                result[i] = new TrackedRequest(
                    MockClusterNative.RequestBrokerId(request),
                    (KafkaApi)MockClusterNative.RequestApiKey(request),
                    MicrosecondsToStopwatchTicks(micros));
            }

            return result;
        }
        finally
        {
            MockClusterNative.RequestDestroyArray(requests, count);
        }
    }

    /// <summary>Stops the cluster: destroys the mock cluster, then its librdkafka handle. Safe to call more than once.</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>Stops the cluster (see <see cref="Dispose"/>).</summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Holds a reference on the native handle so that a concurrent <see cref="Dispose"/> waits for the call to return.</summary>
    private ClusterLease Acquire()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        var added = false;
        _handle.DangerousAddRef(ref added);
        return new ClusterLease(_handle);
    }

    private static long MicrosecondsToStopwatchTicks(long microseconds) =>
        Stopwatch.Frequency == 1_000_000_000
            ? microseconds * 1000
            : (long)(microseconds * (Stopwatch.Frequency / 1_000_000.0));

    private static int ToMilliseconds(TimeSpan value, string parameterName)
    {
        if (value < TimeSpan.Zero || value.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(parameterName, value, "Must be between zero and int.MaxValue milliseconds.");
        }

        return (int)value.TotalMilliseconds;
    }

    private static void Check(int error, string operation)
    {
        if (error != 0)
        {
            throw new EmbeddedKafkaClusterException(operation, (ErrorCode)error);
        }
    }

    private readonly ref struct ClusterLease(MockClusterHandle handle)
    {
        public IntPtr Cluster => handle.Cluster;

        public void Dispose() => handle.DangerousRelease();
    }

    /// <summary>Owns the librdkafka handle and the mock cluster on it; releases both in the right order, once.</summary>
    private sealed class MockClusterHandle : SafeHandle
    {
        private MockClusterHandle()
            : base(IntPtr.Zero, ownsHandle: true)
        {
        }

        public IntPtr Cluster { get; private set; }

        public override bool IsInvalid => handle == IntPtr.Zero;

        public static unsafe MockClusterHandle Create(int brokerCount)
        {
            var errors = stackalloc byte[ErrorBufferSize];
            var conf = MockClusterNative.ConfNew();
            // The handle only hosts the cluster: keep its own logging to errors.
            if (MockClusterNative.ConfSet(conf, "log_level", "3", errors, ErrorBufferSize) != MockClusterNative.ConfOk ||
                MockClusterNative.ConfSet(conf, "client.id", "embedded-kafka-cluster", errors, ErrorBufferSize) != MockClusterNative.ConfOk)
            {
                MockClusterNative.ConfDestroy(conf);
                throw new EmbeddedKafkaClusterException($"Configuring the mock cluster's handle failed: {ReadError(errors)}");
            }

            // rd_kafka_new takes ownership of conf on success only.
            var rk = MockClusterNative.KafkaNew(MockClusterNative.ProducerType, conf, errors, ErrorBufferSize);
            if (rk == IntPtr.Zero)
            {
                MockClusterNative.ConfDestroy(conf);
                throw new EmbeddedKafkaClusterException($"Creating the mock cluster's handle failed: {ReadError(errors)}");
            }

            var cluster = MockClusterNative.ClusterNew(rk, brokerCount);
            if (cluster == IntPtr.Zero)
            {
                MockClusterNative.KafkaDestroy(rk);
                throw new EmbeddedKafkaClusterException($"librdkafka could not create a mock cluster of {brokerCount} brokers.");
            }

            var result = new MockClusterHandle { Cluster = cluster };
            result.SetHandle(rk);
            return result;
        }

        protected override bool ReleaseHandle()
        {
            // The cluster lives on the handle's threads: destroy it first.
            MockClusterNative.ClusterDestroy(Cluster);
            MockClusterNative.KafkaDestroy(handle);
            return true;
        }

        private static unsafe string ReadError(byte* errors) =>
            Encoding.UTF8.GetString(errors, new ReadOnlySpan<byte>(errors, ErrorBufferSize).IndexOf((byte)0) is var n and >= 0 ? n : ErrorBufferSize);
    }
}
