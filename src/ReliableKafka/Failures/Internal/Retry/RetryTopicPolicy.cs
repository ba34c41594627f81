using Confluent.Kafka;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Failures.Internal.Retry;

/// <summary>
/// <see cref="FailurePolicy.RetryTopic"/>: a record that failed for good goes to the next retry topic of its source (a
/// copy with the retry headers, acknowledged before the record finishes), or, from the last one (or when it cannot be
/// deserialized, or its failure is not transient), to the dead-letter topic. With parking (<see cref="KeyOrderOnFailure.Park"/>,
/// <see cref="Parking"/> set), the record's key parks on its partition, and its later records follow it instead of being
/// handled (<see cref="TryFollowAsync"/>); once a record that held keys parked is handled or dead-lettered, it releases them
/// through the parking topic.
/// </summary>
internal sealed class RetryTopicPolicy : IFailurePolicy, IRecordRouting
{
    private static readonly TimeSpan FirstRetryPause = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxRetryPause = TimeSpan.FromSeconds(30);

    // How long a record of a draining key waits for the key's release before it follows after all.
    private static readonly TimeSpan DrainWait = TimeSpan.FromSeconds(5);

    private readonly EngineContext _context;
    private readonly RetryLevels _levels;
    private readonly IDeadLetterWriter _writer;
    private readonly DeadLetterPolicy _deadLetters;
    private readonly bool _byPartition;
    private readonly FailingCount _sendsFailing = new();

    public RetryTopicPolicy(EngineContext context, RetryLevels levels, IDeadLetterWriter writer, Deduplication.Internal.Deduplicator? dedup, ParkingLog? parking)
    {
        _context = context;
        _levels = levels;
        _writer = writer;
        Parking = parking;
        _byPartition = context.Options.OrderingMode != OrderingMode.Key;
        _deadLetters = new DeadLetterPolicy(context, writer, dedup, beforeFinish: (failed, token) => HandledAsync(failed.Record, token));
    }

    /// <summary>Gets the parking topic when keys park (<see cref="KeyOrderOnFailure.Park"/>, not under <see cref="OrderingMode.None"/>), else null.</summary>
    public ParkingLog? Parking { get; }

    /// <summary>Gets how many failed records wait for a write (to a retry topic, the dead-letter topic or the parking topic) that failed to be retried.</summary>
    public int RecordsWaiting => _deadLetters.RecordsWaiting + _sendsFailing.Value + (Parking?.ReleasesFailing ?? 0);

    public async Task ApplyAsync(FailedRecord failed, CancellationToken cancellationToken)
    {
        var (state, record, error, _) = failed;
        var (source, level) = _levels.Locate(record.Topic);

        // A failure before the handler ran (a claim held elsewhere, say) passes too, unless the record cannot be read.
        var transient = error is not MessageDeserializationException && (_context.Options.Retry.IsTransient ?? RetryOptions.IsTransientByDefault)(error);

        // From the last retry topic (after its retries in place, RetryInPlaceAfter), or for a final failure, to the
        // dead-letter topic.
        if (!transient || level >= _levels.Count)
        {
            await _deadLetters.ApplyAsync(failed, cancellationToken).ConfigureAwait(false);
            return;
        }

        try
        {
            await SendOnAsync(state, record, source, level + 1, error, follow: null, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // Abandoned (revoked, lost or shut down): not finished, so its next owner handles it again.
        }
    }

    public async ValueTask<bool> TryFollowAsync(PartitionState state, ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken)
    {
        if (Parking is null || state.Parked.Count == 0)
        {
            return false;
        }

        // Nothing parks in the last retry topic (its failures are retried in place, then dead-lettered).
        var (source, level) = _levels.Locate(record.Topic);
        if (level >= _levels.Count)
        {
            return false;
        }

        var hash = HashOf(record);
        while (true)
        {
            switch (state.Parked.TryFollow(hash, record.Offset.Value, out var notBeforeMs, out var released))
            {
                case FollowResult.NotParked:
                    return false;
                case FollowResult.Follow:
                    await SendOnAsync(state, record, source, level + 1, failure: null, DateTimeOffset.FromUnixTimeMilliseconds(notBeforeMs), cancellationToken).ConfigureAwait(false);
                    return true;
                default:
                    // The key drains: its records ahead are due and on their way. Waiting a little for its release lets it
                    // be released although records of it keep coming; if the release does not come, this one follows.
                    using (var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, state.Stopping))
                    {
                        var waited = Task.Delay(DrainWait, _context.Time, waiting.Token);
                        var first = await Task.WhenAny(released, waited).ConfigureAwait(false);
                        await waiting.CancelAsync().ConfigureAwait(false); // the timer of a wait that ended
                        if (first != released)
                        {
                            cancellationToken.ThrowIfCancellationRequested();
                            if (state.Stopping.IsCancellationRequested)
                            {
                                return true; // let go with its partition: left unfinished, for the next owner
                            }

                            state.Parked.StopDraining(hash);
                        }
                    }

                    break;
            }
        }
    }

    /// <summary>
    /// In the last retry topic, a record that has not failed as often as there are retry topics (it followed its key
    /// there, and failed late) is retried in place, in its key's lane, with the last backoff: sending it round the topic
    /// again would let records of its key that arrive meanwhile overtake it. Null when it has no retries left, elsewhere,
    /// or when its failure is final.
    /// </summary>
    public TimeSpan? RetryInPlaceAfter(ConsumeResult<byte[]?, byte[]?> record, Exception error, int retriedInPlace)
    {
        var (_, level) = _levels.Locate(record.Topic);
        if (level < _levels.Count || error is MessageDeserializationException
            || !(_context.Options.Retry.IsTransient ?? RetryOptions.IsTransientByDefault)(error)
            || RetryHeaders.ReadCount(record.Message.Headers) + retriedInPlace >= _levels.Count)
        {
            return null;
        }

        return _levels.Backoffs[^1];
    }

    public async ValueTask HandledAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken)
    {
        if (Parking is null || !_levels.IsRetryTopic(record.Topic))
        {
            return;
        }

        var places = RetryHeaders.ReadParkedIn(record.Message.Headers);
        if (places.Count > 0)
        {
            await Parking.ReleaseAsync(places, HashOf(record), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The hash a record's key parks under: its key's, or 0 for the whole partition (Partition ordering, keyless records).</summary>
    private ulong HashOf(ConsumeResult<byte[]?, byte[]?> record) => _byPartition ? 0 : ParkedKeys.HashOf(record.Message.Key);

    /// <summary>
    /// Sends the record to retry level <paramref name="level"/> of its source and finishes it once acknowledged, trying
    /// again with growing pauses. A failed record (<paramref name="failure"/> set) parks its key first; a follower goes
    /// with the time of the record it follows (<paramref name="follow"/>).
    /// </summary>
    private async Task SendOnAsync(
        PartitionState state, ConsumeResult<byte[]?, byte[]?> record, string source, int level, Exception? failure, DateTimeOffset? follow, CancellationToken token)
    {
        var time = _context.Time;
        var offset = record.Offset.Value;
        var hash = HashOf(record);
        var backoff = _levels.Backoffs[level - 1];
        var notBefore = follow ?? time.GetUtcNow() + backoff;
        if (Parking is not null && follow is null && !state.Parked.Park(hash, offset, notBefore.ToUnixTimeMilliseconds()))
        {
            Log.ParkedKeysBeyondMetadata(_context.Logger, _context.Name, new TopicPartitionOffset(record.TopicPartition, state.Parked.PinnedAt ?? offset), state.Parked.MetadataKeys);
        }

        // A record of a retry topic carries retry headers; a source topic's record starts afresh whatever its headers say.
        var retryHeaders = level > 1 ? record.Message.Headers : null;
        var places = RetryHeaders.ReadParkedIn(retryHeaders);
        if (Parking is not null)
        {
            places.Add(new ParkedPlace(record.Topic, record.Partition.Value, offset));
        }

        var count = RetryHeaders.ReadCount(retryHeaders) + (failure is null ? 0 : 1);
        var message = new Message<byte[]?, byte[]?>
        {
            Key = record.Message.Key,
            Value = record.Message.Value,
            Headers = RetryHeaders.ForNextLevel(
                record, _levels.OriginOf(record), failure, time.GetUtcNow(), count, notBefore, places, _context.Options.DeadLetter.MaxErrorMessageLength),
        };
        var topic = _levels.TopicOf(source, level);
        if (failure is not null)
        {
            Log.RetryScheduled(_context.Logger, _context.Name, record.TopicPartitionOffset, failure, topic, notBefore);
        }

        var refresh = false;
        await _sendsFailing.UntilItWorksAsync(
            async cancellationToken =>
            {
                cancellationToken.ThrowIfCancellationRequested();

                // Records that park together (a whole partition, keyless records) go to one partition of the retry
                // topic, so that they stay in order there; keyed records go where their key maps to.
                var partition = Partition.Any;
                if (_byPartition || record.Message.Key is null)
                {
                    var partitions = await _writer.PartitionCountAsync(topic, refresh, cancellationToken).ConfigureAwait(false);
                    partition = new Partition(record.Partition.Value % partitions);
                }

                var sending = _writer.SendAsync(new TopicPartition(topic, partition), message, cancellationToken);
                await Tracing.EndCopyAsync(Tracing.StartCopy(topic, message.Headers, "retry"), sending, written => written).ConfigureAwait(false);
            },
            FirstRetryPause,
            MaxRetryPause,
            time,
            (e, pause) =>
            {
                refresh = true;
                Log.RetrySendFailed(_context.Logger, _context.Name, record.TopicPartitionOffset, topic, (long)pause.TotalMilliseconds, e.Message);
            },
            token).ConfigureAwait(false);

        _context.Metrics.RetrySent(state.TopicPartition, topic, follower: failure is null);
        state.Offsets.Complete(offset);
    }
}
