namespace ReliableKafka;

/// <summary>A consumer stopped because a record failed under <see cref="FailurePolicy.StopConsumer"/>.</summary>
public sealed class ConsumerStoppedException : Exception
{
    /// <summary>Initializes a new instance.</summary>
    public ConsumerStoppedException()
    {
    }

    /// <summary>Initializes a new instance with a message.</summary>
    /// <param name="message">The message.</param>
    public ConsumerStoppedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with a message and the record's failure.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">Why the record failed.</param>
    public ConsumerStoppedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
