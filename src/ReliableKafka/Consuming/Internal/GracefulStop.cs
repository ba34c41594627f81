using Confluent.Kafka;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// Stops the consumer within one budget, <see cref="ConsumerOptions.ShutdownTimeout"/> (at least <see cref="MinimumStop"/>):
/// running handlers get most of it, then what finished is committed and the member leaves the group. Leaving runs the
/// revocation callback, which neither waits for handlers again nor commits into the close reserve; if librdkafka's
/// close does not finish within the budget (a coordinator that does not answer), the client is left behind. Also
/// leaves the group after a failure. Poll thread; the budget is read by the thread that closes.
/// </summary>
internal sealed class GracefulStop(EngineContext context, AssignedPartitions partitions, ICommitter committer, EngineLifecycle lifecycle, Dispatcher dispatcher)
{
    // A graceful stop takes ShutdownTimeout in all, but never less than this: the final commit and leaving the group
    // need a moment even when handlers are not waited for.
    private static readonly TimeSpan MinimumStop = TimeSpan.FromSeconds(1);

    // Of the stop's budget, the final commit and leaving the group keep this share (at most MaxStopReserve); handlers
    // get the rest. Half of it is the close reserve, which no commit may use.
    private const int StopReserveDivisor = 4;
    private static readonly TimeSpan MaxStopReserve = TimeSpan.FromSeconds(5);

    // How long leaving the group may take after a failure before the client is left behind.
    private static readonly TimeSpan FailureCloseTimeout = TimeSpan.FromSeconds(10);

    // Written on the poll thread before the close thread starts (Thread.Start orders them).
    private long _started;
    private TimeSpan _budget;
    private TimeSpan _closeReserve;

    /// <summary>Gets what is left of the stop's budget for commits: all but the close reserve (any thread).</summary>
    public TimeSpan RemainingForCommits
    {
        get
        {
            var remaining = context.Remaining(_budget, _started) - _closeReserve;
            return remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
        }
    }

    /// <summary>Stops gracefully; returns false when the client was left behind (it must not be disposed under a running close).</summary>
    /// <param name="consumer">The Confluent consumer.</param>
    /// <param name="serve">Polls the consumer for a while, serving rebalances, without handling what it returns.</param>
    public bool Stop(IConsumer<byte[]?, byte[]?> consumer, Action<TimeSpan> serve)
    {
        dispatcher.StartPendingLanes();
        lifecycle.BeginStop();
        var budget = context.Options.ShutdownTimeout > MinimumStop ? context.Options.ShutdownTimeout : MinimumStop;
        var reserve = TimeSpan.FromTicks(Math.Min(budget.Ticks / StopReserveDivisor, MaxStopReserve.Ticks));
        _started = context.Time.GetTimestamp();
        _budget = budget;
        _closeReserve = reserve / 2;
        Log.ConsumerStopping(context.Logger, context.Name, (long)budget.TotalMilliseconds);
        partitions.Drain([.. partitions.All], budget - reserve, "shutdown");

        // The partitions are read at each attempt: one revoked meanwhile (a rebalance served while committing) was
        // committed by its revocation and is no longer this member's to commit.
        var forCommits = RemainingForCommits;
        committer.CommitBeforeLettingGo(consumer, partitions.All, "shutdown", forCommits, forCommits, serve);

        // Leaving the group revokes the partitions (with cooperative assignment): the revocation neither waits for
        // handlers again nor commits into the close reserve.
        var closed = Close(consumer, context.Remaining(_budget, _started));
        lifecycle.ThrowIfFailed();
        Log.ConsumerStopped(context.Logger, context.Name);
        return closed;
    }

    /// <summary>
    /// After a failure, leaves the group (so that the partitions move to other members at once, instead of after the
    /// session timeout) without committing anything, for at most <see cref="FailureCloseTimeout"/>; returns false when
    /// the client was left behind.
    /// </summary>
    public bool LeaveAfterFailure(IConsumer<byte[]?, byte[]?> consumer)
    {
        lifecycle.MarkFailed();
        return Close(consumer, FailureCloseTimeout);
    }

    /// <summary>
    /// Leaves the group (librdkafka's close, which runs the revocation callback) on a thread of its own, waiting at most
    /// <paramref name="timeout"/>: librdkafka's close can wait without end for a coordinator that does not answer. The
    /// poll thread waits meanwhile, so the callback still has the engine to itself. Returns false when it did not finish:
    /// the client is then left behind, and the engine's state is no longer touched by the poll thread.
    /// </summary>
    private bool Close(IConsumer<byte[]?, byte[]?> consumer, TimeSpan timeout)
    {
        var close = new Thread(() =>
        {
            try
            {
                consumer.Close();
            }
            catch (Exception e)
            {
                Log.CloseFailed(context.Logger, context.Name, e.Message);
            }
        })
        {
            IsBackground = true,
            Name = $"ReliableKafka consumer {context.Name} close",
        };
        close.Start();
        if (close.Join(timeout))
        {
            return true;
        }

        Log.CloseTimedOut(context.Logger, context.Name, (long)timeout.TotalMilliseconds);
        return false;
    }
}
