using ReliableKafka.Deduplication;
using ReliableKafka.Deduplication.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>What a record's attempts need, passed through the retry pipeline without a closure.</summary>
/// <param name="Engine">The engine.</param>
/// <param name="State">The record's partition.</param>
/// <param name="Lane">The record's lane.</param>
/// <param name="Prepared">The deserialized record.</param>
/// <param name="Offset">The record's offset.</param>
internal readonly record struct AttemptRun(ConsumerEngine Engine, PartitionState State, Lane Lane, object Prepared, long Offset)
{
    /// <summary>Gets the record's key in the deduplication store (when deduplicating).</summary>
    public DeduplicationKey Key { get; init; }

    /// <summary>Gets the owner of the record's claims: one value per delivery of the record to this member.</summary>
    public Guid Owner { get; init; }

    /// <summary>Begins the store's transaction for an attempt, in the handler's scope; its completion counts as the record's.</summary>
    public Func<IServiceProvider, ValueTask<IDeduplicationTransaction>> BeginTransaction(Deduplicator deduplicator, ITransactionalDeduplicationStore store, CancellationToken token)
    {
        var (key, owner) = (Key, Owner);
        return async services => deduplicator.Completing(await store.BeginAsync(key, owner, services, token).ConfigureAwait(false), owner);
    }
}
