using Confluent.Kafka;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// Where one consumer's engine is in its life. Read by every part, from any thread; each flag says who writes it.
/// The first failure or stop request wins.
/// </summary>
internal sealed class EngineLifecycle
{
    private Exception? _failure;
    private Exception? _stopRequest;
    private Error? _fatalError;
    private volatile bool _stopping;
    private volatile bool _failed;
    private volatile bool _crashRequested;

    /// <summary>Gets a value indicating whether a graceful stop began (set on the poll thread): no new partition is handled.</summary>
    public bool Stopping => _stopping;

    /// <summary>Gets a value indicating whether the consumer failed and leaves its group without committing (set on the poll thread).</summary>
    public bool Failed => _failed;

    /// <summary>Gets a value indicating whether a simulated crash was requested (tests).</summary>
    public bool CrashRequested => _crashRequested;

    /// <summary>Gets the failure of a rebalance callback or the poll loop, or null.</summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>Gets the reason the consumer must stop gracefully (<see cref="FailurePolicy.StopConsumer"/>), or null.</summary>
    public Exception? StopRequest => Volatile.Read(ref _stopRequest);

    /// <summary>Gets librdkafka's fatal error, or null.</summary>
    public Error? FatalError => Volatile.Read(ref _fatalError);

    public void BeginStop() => _stopping = true;

    public void MarkFailed() => _failed = true;

    public void RequestCrash() => _crashRequested = true;

    /// <summary>Records a failure; returns false when one was recorded before (which stays).</summary>
    public bool Fail(Exception failure) => Interlocked.CompareExchange(ref _failure, failure, null) is null;

    /// <summary>Asks for a graceful stop that ends with <paramref name="reason"/> (the first request wins).</summary>
    public void RequestStop(Exception reason) => Interlocked.CompareExchange(ref _stopRequest, reason, null);

    /// <summary>Records librdkafka's fatal error (the first one wins).</summary>
    public void FatalErrorOccurred(Error error) => Interlocked.CompareExchange(ref _fatalError, error, null);

    /// <summary>Throws the recorded failure, or librdkafka's fatal error, if any (on the poll thread).</summary>
    public void ThrowIfFailed()
    {
        if (Failure is { } failure)
        {
            throw failure;
        }

        if (FatalError is { } error)
        {
            throw new KafkaException(error);
        }
    }
}
