namespace ReliableKafka;

/// <summary>
/// Handles the records of a consumer. A new instance is resolved from a new DI scope for every record, so
/// scoped services (a DbContext, say) are per record. Records of one partition are handled one at a time,
/// in offset order.
/// </summary>
/// <typeparam name="TKey">The key type.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
public interface IMessageHandler<TKey, TValue>
{
    /// <summary>
    /// Handles one record. Returning normally marks it finished: its offset may then be committed. Throwing
    /// keeps it unfinished: nothing at or past its offset is committed (see the consumer's guarantee).
    /// </summary>
    /// <param name="context">The record and where it came from.</param>
    /// <param name="cancellationToken">
    /// Fires when the consumer stops and the handler is still running after the shutdown timeout, or when the
    /// partition is revoked or lost; the record is then processed again later. Same as <see cref="MessageContext{TKey, TValue}.CancellationToken"/>.
    /// </param>
    /// <returns>A task that completes when the record is handled.</returns>
    Task HandleAsync(MessageContext<TKey, TValue> context, CancellationToken cancellationToken);
}
