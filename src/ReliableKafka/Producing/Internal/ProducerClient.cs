using Confluent.Kafka;
using Microsoft.Extensions.Logging;
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

    public ProducerClient(KafkaClientConfig config, ProducerOptions options, ILogger logger, ILogger librdkafkaLogger)
    {
        Name = config.Name;
        MessageIdHeader = options.MessageIdHeader;
        var flushTimeout = options.FlushTimeout;
        Guarantee = config.Guarantee;
        _logger = logger;
        _flushTimeout = flushTimeout;
        _producer = new ProducerBuilder<byte[]?, byte[]?>(config.Values)
            .SetErrorHandler((_, error) => OnError(error))
            .SetLogHandler((_, message) => Log.Librdkafka(librdkafkaLogger, message))
            .Build();
        Log.ProducerCreated(_logger, config);
    }

    public string Name { get; }

    public DeliveryGuarantee Guarantee { get; }

    /// <summary>Gets a value indicating whether messages get a message-id header.</summary>
    public bool MessageIdHeader { get; }

    /// <summary>Gets the producer, or throws the fatal error that made it unusable.</summary>
    public IProducer<byte[]?, byte[]?> GetProducer(string topic)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Volatile.Read(ref _fatalError) is { } fatal)
        {
            throw new ReliableKafkaProduceException(fatal, topic, messageId: null, innerException: null);
        }

        return _producer;
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

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(_flushTimeout);
            Flush(timeout.Token);
        }
        finally
        {
            _producer.Dispose();
        }
    }

    private void Flush(CancellationToken cancellationToken)
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
