namespace ReliableKafka;

/// <summary>
/// Sends dead-lettered records back to be processed again, once the cause of their failure is fixed. Registered
/// by <c>AddReliableKafka</c>; it connects to the default cluster, or to the one <see cref="RedriveRequest.Cluster"/> names.
/// </summary>
public interface IDeadLetterRedriver
{
    /// <summary>
    /// Reads the dead-letter topic from where this request's redrive group stopped last time up to the end it had
    /// when the call started, and re-produces each record that matches the request's filters (its original key,
    /// value and headers, without the dead-letter diagnostics, with <see cref="ReliableKafkaHeaders.RedriveCount"/>
    /// raised by one) to its original topic or <see cref="RedriveRequest.TargetTopic"/>, with acks=all. The read
    /// position is committed only after the re-produced records are acknowledged, so a second call (or one after a
    /// crash) does not send again what was sent and committed.
    /// </summary>
    /// <param name="request">What to redrive.</param>
    /// <param name="cancellationToken">Stops the redrive; what was acknowledged and committed so far stays done.</param>
    /// <returns>How many records were sent and passed over.</returns>
    Task<RedriveResult> RedriveAsync(RedriveRequest request, CancellationToken cancellationToken = default);
}
