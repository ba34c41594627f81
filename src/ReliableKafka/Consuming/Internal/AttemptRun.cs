using ReliableKafka.Deduplication;
using ReliableKafka.Deduplication.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>What a record's attempts need, passed through the retry pipeline without a closure.</summary>
/// <param name="Pipeline">The pipeline that runs the attempts.</param>
/// <param name="State">The record's partition.</param>
/// <param name="Lane">The record's lane.</param>
/// <param name="Prepared">The deserialized record.</param>
/// <param name="Offset">The record's offset.</param>
internal readonly record struct AttemptRun(RecordPipeline Pipeline, PartitionState State, Lane Lane, object Prepared, long Offset)
{
    /// <summary>Gets the record's key in the deduplication store (when deduplicating).</summary>
    public DeduplicationKey Key { get; init; }

    /// <summary>Gets who claims the record in the deduplication store, across its attempts (when deduplicating).</summary>
    public ClaimOwner? Claim { get; init; }

    /// <summary>Begins the store's transaction for an attempt, in the handler's scope; its completion counts as the record's.</summary>
    public Func<IServiceProvider, ValueTask<IDeduplicationTransaction>> BeginTransaction(Deduplicator deduplicator, ITransactionalDeduplicationStore store, Guid owner, CancellationToken token)
    {
        var key = Key;
        return async services => deduplicator.Completing(await store.BeginAsync(key, owner, services, token).ConfigureAwait(false), owner);
    }
}

/// <summary>
/// The owner under which a record's attempts claim it. It stays the same while no release was sent (an attempt that
/// starts over after a store failure reclaims its own claim at once), and changes after each release: a release the
/// store runs late, after the consumer stopped waiting for it, can then never delete a later attempt's claim. A release
/// that failed is tried again before the next claim. Touched only by the record's lane.
/// </summary>
internal sealed class ClaimOwner(Guid owner)
{
    /// <summary>Gets or sets the owner of the next claim.</summary>
    public Guid Current { get; set; } = owner;

    /// <summary>Gets or sets an earlier owner whose release failed, or null.</summary>
    public Guid? ReleasePending { get; set; }
}
