using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Producing.Internal;

/// <summary>
/// One Confluent.Kafka producer of raw bytes, shared by every <see cref="ReliableProducer{TKey, TValue}"/> of the
/// same name. Remembers a fatal error so that every later call fails with it instead of hanging.
/// </summary>
internal sealed class ProducerClient : IDisposable
{
    private readonly IProducer<byte[]?, byte[]?> _producer;
    private readonly ILogger _logger;
    private readonly TimeSpan _flushTimeout;
    private Error? _fatalError;
    private int _disposed;
    private int _producing;

    // How long disposal waits for the delivery reports of purged messages (they come at once; a poll cycle at most).
    private static readonly TimeSpan PurgeReportTimeout = TimeSpan.FromSeconds(5);

    private readonly ReliableKafkaMetrics? _metrics;
    private readonly TimeProvider _time;

    public ProducerClient(KafkaClientConfig config, ProducerOptions options, ILogger logger, KafkaClientFactory clients, ReliableKafkaMetrics? metrics = null, TimeProvider? time = null)
    {
        _metrics = metrics;
        _time = time ?? TimeProvider.System;
        Name = config.Name;
        MessageIdHeader = options.MessageIdHeader;
        var flushTimeout = options.FlushTimeout;
        Guarantee = config.Guarantee;
        _logger = logger;
        _flushTimeout = flushTimeout;
        _producer = clients.CreateProducer(config, KafkaClientRole.Producer, config.Name, OnError);
        Log.ProducerCreated(_logger, config);
    }

    public string Name { get; }

    /// <summary>Gets the counts of messages sent through <see cref="SendAsync(string, Message{byte[], byte[]}, byte[], CancellationToken)"/> (acknowledged, failed).</summary>
    public ProducerCounters Counters { get; } = new();

    /// <summary>Gets the fatal error that made the producer unusable, or null.</summary>
    public Error? FatalError => Volatile.Read(ref _fatalError);

    public DeliveryGuarantee Guarantee { get; }

    /// <summary>Gets a value indicating whether messages get a message-id header.</summary>
    public bool MessageIdHeader { get; }

    /// <summary>
    /// Queues a message; <paramref name="handler"/> gets its delivery report. Throws the fatal error that made the
    /// producer unusable, or <see cref="ObjectDisposedException"/> once disposal began: a message is either queued
    /// before the disposal purges the queue (so its report comes, with a purge error at worst) or refused.
    /// </summary>
    public void Produce(string topic, Message<byte[]?, byte[]?> message, Action<DeliveryReport<byte[]?, byte[]?>> handler) =>
        Produce(new TopicPartition(topic, Partition.Any), message, handler);

    /// <summary>Queues serialized bytes for one partition (or <see cref="Partition.Any"/>: the partitioner's choice).</summary>
    public void Produce(TopicPartition destination, Message<byte[]?, byte[]?> message, Action<DeliveryReport<byte[]?, byte[]?>> handler)
    {
        var topic = destination.Topic;
        Interlocked.Increment(ref _producing);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            if (Volatile.Read(ref _fatalError) is { } fatal)
            {
                throw new ReliableKafkaProduceException(fatal, topic, messageId: null, innerException: null);
            }

            _producer.Produce(destination, message, handler);
        }
        finally
        {
            Interlocked.Decrement(ref _producing);
        }
    }

    /// <summary>
    /// Queues serialized bytes; the task completes with the delivery report. Throws what <see cref="Produce(TopicPartition, Message{byte[], byte[]}, Action{DeliveryReport{byte[], byte[]}})"/> throws
    /// (the message was not queued).
    /// </summary>
    public Task<ProduceResult> SendAsync(string topic, Message<byte[]?, byte[]?> message, byte[]? messageId, CancellationToken cancellationToken) =>
        SendAsync(new TopicPartition(topic, Partition.Any), message, messageId, cancellationToken);

    /// <summary>Queues serialized bytes for one partition (or <see cref="Partition.Any"/>); the task completes with the delivery report.</summary>
    public Task<ProduceResult> SendAsync(TopicPartition destination, Message<byte[]?, byte[]?> message, byte[]? messageId, CancellationToken cancellationToken)
    {
        // Confluent's callback API with our own completion costs less per message than its ProduceAsync.
        var completion = new DeliveryCompletion(destination.Topic, messageId, cancellationToken, _metrics, _time, Counters);
        try
        {
            Produce(destination, message, completion.Handler);
        }
        catch
        {
            // Not queued: no delivery report will come to end the cancellation registration.
            completion.Abandon();
            throw;
        }

        return completion.Task;
    }

    /// <summary>Waits until every message produced so far is delivered or failed, for at most the flush timeout.</summary>
    public Task FlushAsync(CancellationToken cancellationToken) =>
        Task.Run(
            () =>
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_flushTimeout);
                Flush(timeout.Token);
            },
            CancellationToken.None);

    /// <summary>
    /// Refuses new messages, waits up to the flush timeout for those in flight, then purges what is left (queued and
    /// in flight) so that every pending ProduceAsync completes, with a purge error (<see cref="ErrorCode.Local_PurgeQueue"/>
    /// or <see cref="ErrorCode.Local_PurgeInflight"/>: an in-flight message may still have been written), and only then
    /// disposes the Confluent producer, which would otherwise drop their delivery reports.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Produce calls that passed the check are about to queue their message: let them, so the purge sees it.
        var spin = default(SpinWait);
        while (Volatile.Read(ref _producing) != 0)
        {
            spin.SpinOnce();
        }

        try
        {
            using var timeout = new CancellationTokenSource(_flushTimeout);
            if (Flush(timeout.Token) > 0)
            {
                ProducerPurge.All(_producer);

                // The purged messages' delivery reports are served by the producer's poll thread.
                _producer.Flush(PurgeReportTimeout);
            }
        }
        catch (KafkaException e)
        {
            Log.ProducerError(_logger, Name, e.Error.Code, e.Error.Reason);
        }
        finally
        {
            _producer.Dispose();
        }
    }

    /// <summary>Waits until every message is delivered or failed, or the token fires; returns how many are left.</summary>
    private int Flush(CancellationToken cancellationToken)
    {
        var remaining = 0;
        try
        {
            // Confluent's Flush(CancellationToken) polls in short steps and throws when the token fires.
            _producer.Flush(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            remaining = _producer.Flush(TimeSpan.Zero);
        }

        if (remaining > 0)
        {
            Log.ProducerFlushIncomplete(_logger, Name, remaining, (long)_flushTimeout.TotalMilliseconds);
        }

        return remaining;
    }

    private void OnError(Error error)
    {
        if (error.IsFatal)
        {
            Interlocked.CompareExchange(ref _fatalError, error, null);
            Log.ProducerFatalError(_logger, Name, error.Code, error.Reason);
        }
        else
        {
            Log.ProducerError(_logger, Name, error.Code, error.Reason);
        }
    }
}
