using Confluent.Kafka;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// The poll thread: the only thread that touches the Confluent consumer (Consume, Pause/Resume, Seek, Commit,
/// Close; a rebalance callback runs inside Consume or Close). Each iteration asks the other parts what to do: take
/// failures, release holds, update backpressure, reconcile pauses, watch for stalls, consume and dispatch, commit on
/// the interval. It ends with a graceful stop, a simulated crash, or a failure that stops the consumer loudly.
/// </summary>
internal sealed class PollLoop(
    EngineContext context,
    EngineLifecycle lifecycle,
    ClientErrors errors,
    AssignedPartitions partitions,
    Admission admission,
    PauseReconciler pauses,
    Dispatcher dispatcher,
    ICommitter committer,
    GracefulStop stop,
    Func<IEnumerable<KeyValuePair<string, string>>, ConsumerBuilder<byte[]?, byte[]?>> consumerBuilder,
    Rebalancer rebalancer,
    Action onExit)
{
    private static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(100);

    // While fetching is paused, poll often so that it resumes soon after the buffer drains.
    private static readonly TimeSpan BackpressurePollTimeout = TimeSpan.FromMilliseconds(5);

    /// <summary>Runs until <paramref name="stoppingToken"/> fires (then stops gracefully), a crash is requested or the consumer fails.</summary>
    public void Run(CancellationToken stoppingToken)
    {
        Log.ConsumerStarting(context.Logger, context.Config, context.Options);
        var rebalance = rebalancer;
        var builder = consumerBuilder(context.Config.Values);
        KafkaClientFactory.SetOwnHandlers(KafkaClientRole.Consumer, context.Name, () => builder
            .SetErrorHandler((_, error) => errors.Report(error))
            .SetLogHandler((_, message) => Log.Librdkafka(context.LibrdkafkaLogger, message))
            .SetPartitionsAssignedHandler((c, assigned) => InCallback("assigning partitions", () => rebalance.OnAssigned(c, assigned)))
            .SetPartitionsRevokedHandler((c, revoked) => InCallback("revoking partitions", () => rebalance.OnRevoked(c, revoked)))
            .SetPartitionsLostHandler((_, lost) => InCallback("losing partitions", () => rebalance.OnLost(lost))));
        var consumer = builder.Build();
        var leftBehind = false;
        try
        {
            consumer.Subscribe(context.Subscription);
            committer.Start();
            while (!stoppingToken.IsCancellationRequested && !lifecycle.CrashRequested && lifecycle.StopRequest is null)
            {
                lifecycle.ThrowIfFailed();
                Poll(consumer);
            }

            lifecycle.ThrowIfFailed();
            if (lifecycle.CrashRequested)
            {
                Log.ConsumerCrashed(context.Logger, context.Name);
                return;
            }

            leftBehind = !stop.Stop(consumer, wait => Serve(consumer, wait));
        }
        catch (Exception e)
        {
            // Loud and final: whatever escaped the poll loop or a rebalance callback stops the consumer; it never
            // stays assigned and idle. Nothing more is committed; the records not committed are handled again by
            // the partitions' next owner.
            var recorded = lifecycle.Failure;
            var failure = recorded ?? e;
            if (!ReferenceEquals(failure, recorded))
            {
                Log.ConsumerFailed(context.Logger, context.Name, failure); // a callback's failure was logged when it happened
            }

            partitions.AbandonAll();
            leftBehind = !stop.LeaveAfterFailure(consumer);
            if (!ReferenceEquals(failure, e))
            {
                throw new ConsumerStoppedException($"Consumer {context.Name} failed and stopped: {failure.Message}", failure);
            }

            throw;
        }
        finally
        {
            // A close left behind may still run the revocation callback: the engine's state is then its alone (every
            // partition was stopped and its handlers cancelled before the close began).
            if (!leftBehind)
            {
                partitions.AbandonAll();
                committer.Abandon(); // before the consumer: outstanding commits hold a reference on the client
                consumer.Dispose(); // without Close after a crash; after a failure or a stop, Close ran first
            }

            onExit();
        }
    }

    private void Poll(IConsumer<byte[]?, byte[]?> consumer)
    {
        pauses.TakeFailures();
        admission.ApplyOperatorPauses();
        rebalancer.RetryUnread(consumer);
        admission.ReleaseHolds();
        admission.UpdateBackpressure();
        pauses.Reconcile(consumer);
        pauses.WatchForStalls(consumer);

        try
        {
            var result = consumer.Consume(admission.PollTimeout(PollTimeout, BackpressurePollTimeout));
            if (result is { IsPartitionEOF: false })
            {
                dispatcher.Dispatch(consumer, result);
            }
        }
        catch (ConsumeException e)
        {
            errors.Report(e.Error);
        }

        committer.OnPoll(consumer);
    }

    /// <summary>
    /// Runs a rebalance callback. An exception must not reach Confluent.Kafka: it would leave librdkafka waiting
    /// for an assignment that never comes (and its destroy waiting without end). It is recorded and logged instead; the
    /// poll loop then stops the consumer, and no partition is handled meanwhile.
    /// </summary>
    private void InCallback(string what, Action callback)
    {
        try
        {
            callback();
        }
        catch (Exception e)
        {
            var failure = new InvalidOperationException($"Consumer {context.Name} failed while {what}: {e.Message}", e);
            if (lifecycle.Fail(failure))
            {
                // Logged here: a callback that fails while the consumer stops (inside Close) is never seen by the poll loop.
                Log.ConsumerFailed(context.Logger, context.Name, failure);
            }

            partitions.AbandonAll();
        }
    }

    /// <summary>
    /// While stopping, polls so that rebalance callbacks and group protocol progress are served; records it
    /// returns are not handled (their partitions are stopped) and stay uncommitted for the next owner.
    /// </summary>
    private void Serve(IConsumer<byte[]?, byte[]?> consumer, TimeSpan wait)
    {
        try
        {
            consumer.Consume(wait);
        }
        catch (ConsumeException e)
        {
            errors.Report(e.Error);
        }
    }
}
