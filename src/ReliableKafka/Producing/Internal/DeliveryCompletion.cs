using Confluent.Kafka;

namespace ReliableKafka.Producing.Internal;

/// <summary>
/// Completes a ProduceAsync task from Confluent's delivery report. Continuations run on the thread pool, never
/// on librdkafka's delivery thread. Cancellation only stops the waiting: the message may still be delivered.
/// </summary>
internal sealed class DeliveryCompletion : TaskCompletionSource<ProduceResult>
{
    private readonly string _topic;
    private readonly byte[]? _messageId;
    private readonly CancellationTokenRegistration _cancellation;
    private readonly Diagnostics.Internal.ReliableKafkaMetrics? _metrics;
    private readonly TimeProvider? _time;
    private readonly long _started;
    private readonly ProducerCounters? _counters;

    /// <param name="topic">The message's topic.</param>
    /// <param name="messageId">The message's id, or null.</param>
    /// <param name="cancellationToken">Stops the waiting.</param>
    /// <param name="metrics">Where the send is counted and timed when someone listens, or null.</param>
    /// <param name="time">The clock of the send's duration.</param>
    /// <param name="counters">The producer's counts of sent and failed messages, or null.</param>
    public DeliveryCompletion(
        string topic, byte[]? messageId, CancellationToken cancellationToken, Diagnostics.Internal.ReliableKafkaMetrics? metrics = null, TimeProvider? time = null, ProducerCounters? counters = null)
        : base(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        _topic = topic;
        _messageId = messageId;
        _counters = counters;
        if (metrics is not null && (metrics.SentMessages.Enabled || metrics.OperationDuration.Enabled))
        {
            _metrics = metrics;
            _time = time ?? TimeProvider.System;
            _started = _time.GetTimestamp();
        }

        Handler = OnDelivery;
        if (cancellationToken.CanBeCanceled)
        {
            _cancellation = cancellationToken.Register(static (state, token) => ((DeliveryCompletion)state!).TrySetCanceled(token), this);
        }
    }

    public Action<DeliveryReport<byte[]?, byte[]?>> Handler { get; }

    /// <summary>Ends the cancellation registration of a message that was never queued (its Produce call threw).</summary>
    public void Abandon() => _cancellation.Dispose();

    private void OnDelivery(DeliveryReport<byte[]?, byte[]?> report)
    {
        _cancellation.Dispose();
        _counters?.Add(failed: report.Error.IsError);
        if (report.Error.IsError)
        {
            TrySetException(new ReliableKafkaProduceException(report.Error, _topic, _messageId is null ? null : System.Text.Encoding.UTF8.GetString(_messageId), null));
        }
        else
        {
            TrySetResult(new ProduceResult(report.Topic, report.Partition, report.Offset, _messageId, report.Status, report.Timestamp));
        }

        // After the result: an application's MeterListener that throws must not leave the send without one.
        _metrics?.Sent(_topic, report.Error.IsError ? null : report.Partition.Value, _time!.GetElapsedTime(_started), report.Error.IsError ? report.Error.Code.ToString() : null);
    }
}

/// <summary>A producer's counts of acknowledged and failed messages (for <see cref="IReliableKafkaMonitor"/>).</summary>
internal sealed class ProducerCounters
{
    private long _sent;
    private long _failed;

    public long Sent => Interlocked.Read(ref _sent);

    public long Failed => Interlocked.Read(ref _failed);

    public void Add(bool failed) => Interlocked.Increment(ref failed ? ref _failed : ref _sent);
}
