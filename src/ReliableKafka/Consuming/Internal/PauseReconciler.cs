using System.Collections.Concurrent;
using Confluent.Kafka;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// Makes the Confluent consumer's pauses match what the engine wants: a partition is paused while it is held
/// (<see cref="Admission"/>) or stopped by a failed record, and fetches otherwise; a resumed partition restarts
/// fetching at the first record it refused. Also watches for partitions that fetch nothing while records wait.
/// Poll thread only, but for <see cref="Fail"/>, which any thread may call.
/// </summary>
internal sealed class PauseReconciler(EngineContext context, AssignedPartitions partitions, Action<Error> onError)
{
    // How often the poll thread looks for partitions that stopped fetching.
    private static readonly TimeSpan StallCheckInterval = TimeSpan.FromSeconds(1);

    // Partitions failed by a record (any thread), taken by the poll thread.
    private readonly ConcurrentQueue<PartitionState> _failures = new();

    // Poll thread only.
    private bool _dirty;
    private long _lastStallCheck;

    /// <summary>
    /// Gets how long a partition the engine neither holds nor pauses may fetch nothing while records wait before it
    /// counts as stalled (30 s). Tests shorten it.
    /// </summary>
    public TimeSpan StallThreshold { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Asks for a reconciliation at the next poll (poll thread).</summary>
    public void Request() => _dirty = true;

    /// <summary>
    /// Stops a partition at a failed record (any thread): its lanes drop what is queued, nothing at or past the record
    /// is committed, and the poll thread pauses it.
    /// </summary>
    public void Fail(PartitionState state, Exception error)
    {
        state.Fail(error);
        _failures.Enqueue(state);
    }

    /// <summary>Takes the partitions failed since the last poll (poll thread).</summary>
    public void TakeFailures()
    {
        while (_failures.TryDequeue(out var state))
        {
            if (partitions.IsCurrent(state))
            {
                _dirty = true;
            }
        }
    }

    /// <summary>Pauses partitions that failed or are held; resumes the others (poll thread).</summary>
    public void Reconcile(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (!_dirty)
        {
            return;
        }

        _dirty = false;
        var pause = new List<PartitionState>();
        var resume = new List<PartitionState>();
        var rewind = new List<PartitionState>();
        foreach (var state in partitions.All)
        {
            var paused = state.Failed || state.Hold != HoldReasons.None;

            // Unknown (just assigned) counts as neither: the wanted state is applied either way.
            if (paused && state.PausedInClient != true)
            {
                pause.Add(state);
            }
            else if (!paused && state.PausedInClient != false)
            {
                resume.Add(state);
            }
            else if (!paused && state.RefusedAt is not null)
            {
                // Held and let go again before the pause took effect: only the refused records need fetching again.
                rewind.Add(state);
            }
        }

        Apply(pause, paused: true);
        Apply(resume, paused: false);
        RestartFetching(consumer, rewind);

        void Apply(List<PartitionState> states, bool paused)
        {
            if (states.Count == 0)
            {
                return;
            }

            try
            {
                var topicPartitions = states.Select(s => s.TopicPartition).ToList();
                if (paused)
                {
                    consumer.Pause(topicPartitions);
                }
                else
                {
                    consumer.Resume(topicPartitions);
                    RestartFetching(consumer, states);
                }

                var now = context.Time.GetTimestamp();
                states.ForEach(s =>
                {
                    s.PausedInClient = paused;
                    s.LastFetched = now; // a stall is measured from when fetching (re)started
                });
            }
            catch (KafkaException e)
            {
                onError(e.Error);
                _dirty = true;
            }
        }
    }

    /// <summary>
    /// Updates each partition's <see cref="PartitionState.Backlog"/> and looks, once a second, for partitions that fetch nothing although the engine neither holds nor pauses them and
    /// records wait (librdkafka's last known end offset lies beyond the partition's position) for
    /// <see cref="StallThreshold"/>: a pause the engine does not know of, say. Each is reported (health check, warning)
    /// and resumed and sought to its position again; a resume of a partition that is not paused changes nothing.
    /// librdkafka learns end offsets from fetch responses, so a partition that stopped fetching while it was caught up
    /// keeps an old end offset and is not noticed: this is a second line of defence, not the mechanism.
    /// </summary>
    public void WatchForStalls(IConsumer<byte[]?, byte[]?> consumer)
    {
        var time = context.Time;
        if (time.GetElapsedTime(_lastStallCheck) < StallCheckInterval)
        {
            return;
        }

        _lastStallCheck = time.GetTimestamp();
        var changed = false;
        foreach (var state in partitions.All)
        {
            // The position: after the last record taken, else the committed offset (read at assignment), else where a
            // group without one starts; unknown (no committed offset read) means no verdict. Two records must wait, not
            // one: after a transaction, the end offset lies one past the last record (the commit marker).
            var (low, high) = Watermarks(consumer, state.TopicPartition);
            var position = state.NextPosition?.Offset.Value ?? state.LastCommitted?.Offset
                ?? (state.StartKnown ? state.StartOffset ?? (context.Options.AutoOffsetReset == AutoOffsetReset.Latest ? high : low) : null);
            state.Backlog = high - position is { } backlog ? Math.Max(backlog, 0) : -1;
            state.HighWatermark = high ?? -1;
            var stalled = state.PausedInClient == false && state.Hold == HoldReasons.None && !state.Failed && !state.Stopped
                && time.GetElapsedTime(state.LastFetched) >= StallThreshold
                && high - position >= 2;
            if (stalled == state.StalledSince.HasValue)
            {
                continue;
            }

            changed = true;
            if (!stalled)
            {
                state.StalledSince = null;
                continue;
            }

            state.StalledSince = time.GetUtcNow() - time.GetElapsedTime(state.LastFetched);
            Log.PartitionStalled(context.Logger, context.Name, state.TopicPartition, (long)time.GetElapsedTime(state.LastFetched).TotalMilliseconds);
            state.PausedInClient = null; // unknown: the next reconciliation resumes it and seeks to its position
            _dirty = true;
        }

        if (changed)
        {
            partitions.Publish();
        }
    }

    /// <summary>librdkafka's last known start and end offsets of a partition (no request); each null when it knows none.</summary>
    private static (long? Low, long? High) Watermarks(IConsumer<byte[]?, byte[]?> consumer, TopicPartition partition)
    {
        try
        {
            var watermarks = consumer.GetWatermarkOffsets(partition);
            return (watermarks.Low.Value >= 0 ? watermarks.Low.Value : null, watermarks.High.Value >= 0 ? watermarks.High.Value : null);
        }
        catch (KafkaException)
        {
            return (null, null);
        }
    }

    /// <summary>
    /// Seeks resumed partitions back to the first record they refused, which librdkafka has already moved past.
    /// A resumed partition that refused nothing is sought to its own position (the last record handed out + 1,
    /// with its leader epoch, which is where librdkafka resumes anyway): after a resume, librdkafka's broker
    /// thread notices the partition only on its next idle wake-up, up to a second later (rd_kafka_max_block_ms),
    /// and the seek restarts fetching at once. Neither skips nor repeats a record. A seek that fails for a
    /// partition that refused records is tried again at the next poll; its records stay refused until then.
    /// </summary>
    private void RestartFetching(IConsumer<byte[]?, byte[]?> consumer, List<PartitionState> states)
    {
        foreach (var state in states)
        {
            if ((state.RefusedAt ?? state.NextPosition) is not { } position)
            {
                continue;
            }

            try
            {
                consumer.Seek(position);
                state.Rewound();
            }
            catch (KafkaException e)
            {
                onError(e.Error);
                _dirty |= state.RefusedAt is not null;
            }
        }
    }
}
