using Microsoft.Extensions.DependencyInjection;
using ReliableKafka.Deduplication;

namespace ReliableKafka.IntegrationTests.Faults;

/// <summary>
/// One member's view of the deduplication store shared by a run's members, as a transactional inbox: the
/// handler's side effect (<see cref="FaultTransaction"/>) is applied to the <see cref="World"/> atomically with the
/// completion, and only if the member still held the claim. A crashed member's inbox is dead: like a killed
/// process, it completes and releases nothing more, so its claims expire with their leases.
/// </summary>
internal sealed class FaultInbox(InMemoryDeduplicationStore shared, World world) : ITransactionalDeduplicationStore
{
    private readonly InMemoryDeduplicationStore _shared = shared;
    private readonly World _world = world;
    private volatile bool _dead;

    /// <summary>Makes every later call fail, as if the process were gone.</summary>
    public void Kill() => _dead = true;

    public ValueTask<ClaimResult> ClaimAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default) =>
        Alive() ? _shared.ClaimAsync(key, owner, lease, cancellationToken) : default;

    public ValueTask<bool> CompleteAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default) =>
        Alive() ? _shared.CompleteAsync(key, owner, cancellationToken) : default;

    public ValueTask<bool> RenewAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default) =>
        Alive() ? _shared.RenewAsync(key, owner, lease, cancellationToken) : default;

    public ValueTask ReleaseAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default) =>
        Alive() ? _shared.ReleaseAsync(key, owner, cancellationToken) : default;

    public ValueTask<long> PurgeAsync(CancellationToken cancellationToken = default) => _shared.PurgeAsync(cancellationToken);

    public ValueTask<IDeduplicationTransaction> BeginAsync(DeduplicationKey key, Guid owner, IServiceProvider handlerServices, CancellationToken cancellationToken = default)
    {
        Alive();
        var transaction = handlerServices.GetRequiredService<FaultTransaction>();
        transaction.Pending = null;
        return ValueTask.FromResult<IDeduplicationTransaction>(new Unit(this, key, owner, transaction));
    }

    private bool Alive() => !_dead ? true : throw new InvalidOperationException("the member crashed (injected)");

    private sealed class Unit(FaultInbox inbox, DeduplicationKey key, Guid owner, FaultTransaction transaction) : IDeduplicationTransaction
    {
        public ValueTask<bool> CompleteAsync(CancellationToken cancellationToken = default)
        {
            inbox.Alive();
            lock (inbox._world.Gate)
            {
                // The in-memory store completes synchronously, so effect and completion are one step under the lock.
                var completion = inbox._shared.CompleteAsync(key, owner, cancellationToken);
                if (!completion.IsCompletedSuccessfully || !completion.Result)
                {
                    return ValueTask.FromResult(false);
                }

                if (transaction.Pending is { } effect)
                {
                    inbox._world.ApplyEffect(effect.Message, effect.Offset);
                }

                return ValueTask.FromResult(true);
            }
        }

        public ValueTask DisposeAsync()
        {
            transaction.Pending = null;
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>The side effect a handler made in its attempt's transaction (scoped: one per attempt).</summary>
internal sealed class FaultTransaction
{
    public (FaultMessage Message, long Offset)? Pending { get; set; }
}
