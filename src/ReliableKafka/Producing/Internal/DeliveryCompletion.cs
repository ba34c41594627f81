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

    public DeliveryCompletion(string topic, byte[]? messageId, CancellationToken cancellationToken)
        : base(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        _topic = topic;
        _messageId = messageId;
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
        if (report.Error.IsError)
        {
            TrySetException(new ReliableKafkaProduceException(report.Error, _topic, _messageId is null ? null : System.Text.Encoding.UTF8.GetString(_messageId), null));
        }
        else
        {
            TrySetResult(new ProduceResult(report.Topic, report.Partition, report.Offset, _messageId, report.Status, report.Timestamp));
        }
    }
}
