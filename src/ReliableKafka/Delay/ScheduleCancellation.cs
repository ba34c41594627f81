namespace ReliableKafka;

/// <summary>What <see cref="IMessageScheduler.CancelAsync"/> can promise.</summary>
public enum ScheduleCancellation
{
    /// <summary>Recorded in time: the message will not be delivered.</summary>
    Cancelled,

    /// <summary>
    /// Recorded when the message was due already, or within <see cref="DelayedDeliveryOptions.CancellationMargin"/> of it:
    /// it may have been delivered. If it was not forwarded yet, the cancellation still stops it.
    /// </summary>
    TooLate,
}
