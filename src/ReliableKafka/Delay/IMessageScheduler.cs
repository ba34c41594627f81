namespace ReliableKafka;

/// <summary>Cancels scheduled messages (see <see cref="IMessageScheduler{TKey, TValue}"/>). Registered by <c>AddDelayedDelivery</c>.</summary>
public interface IMessageScheduler
{
    /// <summary>
    /// Cancels a scheduled message: records the cancellation (acks=all) in the cancellation topic, which every forwarder
    /// follows; the message is dropped at its last hop instead of being delivered.
    /// </summary>
    /// <param name="scheduleId">The id <c>ScheduleAsync</c> returned (<see cref="ScheduleResult.ScheduleId"/>).</param>
    /// <param name="cancellationToken">Stops waiting for the acknowledgement; the cancellation may still be recorded.</param>
    /// <returns>
    /// <see cref="ScheduleCancellation.Cancelled"/> when it was recorded at least <see cref="DelayedDeliveryOptions.CancellationMargin"/>
    /// before the message was due, so it will not be delivered; <see cref="ScheduleCancellation.TooLate"/> when it is due
    /// already or nearly: it may have been delivered (the cancellation still stops it if not).
    /// </returns>
    /// <exception cref="ArgumentException"><paramref name="scheduleId"/> is not a schedule id.</exception>
    /// <exception cref="ReliableKafkaProduceException">The cancellation was not acknowledged.</exception>
    Task<ScheduleCancellation> CancelAsync(string scheduleId, CancellationToken cancellationToken = default);
}
