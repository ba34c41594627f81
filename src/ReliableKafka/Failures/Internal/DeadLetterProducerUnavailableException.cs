namespace ReliableKafka.Failures.Internal;

/// <summary>The dead-letter producer could not be created, so a write surely did not happen.</summary>
internal sealed class DeadLetterProducerUnavailableException : Exception
{
    public DeadLetterProducerUnavailableException()
    {
    }

    public DeadLetterProducerUnavailableException(string message)
        : base(message)
    {
    }

    public DeadLetterProducerUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
