using Confluent.Kafka;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Deduplication.Internal;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Failures.Internal;

/// <summary>
/// <see cref="FailurePolicy.DeadLetter"/>: writes the record to the dead-letter topic, trying again with growing pauses
/// (with jitter, <see cref="Backoffs"/>) until the write is acknowledged; only then is the record finished. Deduplicating, each delivery's write is claimed
/// in the store, so that it happens once per failed delivery however often members crash.
/// </summary>
/// <param name="context">The consumer's engine context.</param>
/// <param name="writer">Writes to the dead-letter topic.</param>
/// <param name="dedup">The deduplication store's claims, or null.</param>
/// <param name="beforeFinish">What runs once the record is in the dead-letter topic, before it finishes (retry topics release its parked keys); null for nothing.</param>
internal sealed class DeadLetterPolicy(
    EngineContext context, IDeadLetterWriter writer, Deduplicator? dedup, Func<FailedRecord, CancellationToken, ValueTask>? beforeFinish = null) : IFailurePolicy
{
    private static readonly TimeSpan FirstRetryPause = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxRetryPause = TimeSpan.FromSeconds(30);

    private int _writesFailing;

    /// <summary>Gets how many failed records are waiting for a dead-letter write that failed to be retried (0 when healthy).</summary>
    public int RecordsWaiting => Volatile.Read(ref _writesFailing);

    /// <summary>Gives up the record when its work is abandoned, leaving it unfinished for its next owner.</summary>
    public async Task ApplyAsync(FailedRecord failed, CancellationToken cancellationToken)
    {
        var (state, record, error, attempts) = failed;
        var token = cancellationToken;
        var failing = false;

        // Deduplicating, the write of this copy is claimed (under its delivery, not its message id, so that a redriven
        // copy that fails again is written again): a record dead-lettered before a crash, and redelivered, is not
        // written twice.
        var key = dedup is null ? default : dedup.DeadLetterKeyOf(record);
        var owner = dedup?.NewOwner() ?? Guid.Empty;
        var marked = false;

        // Whether the record may be in the dead-letter topic already, so that the topic is read before writing: a
        // member crashed in the middle of this write, or a write of this member failed after it may have been made.
        // It stays set until a look-up answered, whatever fails in between.
        var mayBeWritten = false;

        // Every failure (of the store, the look-up or the write) is tried again, with growing pauses, until the record
        // is written or its work abandoned.
        var retries = Backoffs.UntilItWorks(FirstRetryPause, MaxRetryPause, context.Time, static _ => true, (e, pause) =>
        {
            if (!failing)
            {
                failing = true;
                Interlocked.Increment(ref _writesFailing);
            }

            Log.DeadLetterWriteFailed(context.Logger, context.Name, record.Topic, record.Partition.Value, record.Offset.Value, (long)pause.TotalMilliseconds, e.Message);
            context.Metrics.DeadLetterWriteFailed(state.TopicPartition);
        });
        try
        {
            await retries.ExecuteAsync(
                async token =>
                {
                    token.ThrowIfCancellationRequested();
                    if (dedup is not null && !await dedup.ClaimAsync(key, owner, state.TopicPartition, record.Offset.Value, token).ConfigureAwait(false))
                    {
                        await FinishAsync(failed, token).ConfigureAwait(false);
                        return;
                    }

                    if (dedup is not null)
                    {
                        dedup.Hold(key, owner, state.TopicPartition, record.Offset.Value);
                        if (!marked)
                        {
                            mayBeWritten |= await dedup.MarkDeadLetterStartedAsync(key, owner, token).ConfigureAwait(false);
                            marked = true;
                        }

                        if (mayBeWritten)
                        {
                            if (await writer.ContainsAsync(record, token).ConfigureAwait(false))
                            {
                                Log.DeadLetterFoundWritten(context.Logger, context.Name, record.Topic, record.Partition.Value, record.Offset.Value);
                                await dedup.CompleteAsync(key, owner, state.TopicPartition, record.Offset.Value, token).ConfigureAwait(false);
                                await FinishAsync(failed, token).ConfigureAwait(false);
                                return;
                            }

                            mayBeWritten = false;
                        }

                        // From here until the acknowledgement, a failure leaves the write possibly made.
                        mayBeWritten = true;
                    }

                    // The write is not cancelled with the record's work: a cancelled produce may still land, so it is
                    // waited for (at most the dead-letter WriteTimeout, librdkafka's message.timeout.ms) while the claim
                    // stays held and renewed, and the record's next owner waits for it instead of writing a second copy.
                    TopicPartitionOffset written;
                    try
                    {
                        written = await writer.WriteAsync(record, error, attempts, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (Exception e) when (NotWritten(e))
                    {
                        mayBeWritten = false;
                        throw;
                    }

                    Log.DeadLettered(context.Logger, context.Name, record.Topic, record.Partition.Value, record.Offset.Value, attempts, written.Topic, written.Partition.Value, written.Offset.Value, error);
                    context.Metrics.DeadLetter(state.TopicPartition);
                    if (dedup is not null)
                    {
                        // Completion is retried until it succeeds (the write happened): a look-up is no longer needed.
                        await dedup.CompleteAsync(key, owner, state.TopicPartition, record.Offset.Value, token).ConfigureAwait(false);
                    }

                    await FinishAsync(failed, token).ConfigureAwait(false);
                },
                token).ConfigureAwait(false);
        }
        catch (Exception) when (token.IsCancellationRequested)
        {
            // Abandoned (revoked, lost or shut down): not finished, so its next owner handles it again.
        }
        finally
        {
            // Not released when abandoned: the claim expires with its lease, and the next owner looks the record up
            // before writing (its write was marked as started). A write is always waited for before this point.
            dedup?.Unhold(owner);
            if (failing)
            {
                Interlocked.Decrement(ref _writesFailing);
            }
        }
    }

    /// <summary>Finishes a record that is in the dead-letter topic (after <c>beforeFinish</c>).</summary>
    private async ValueTask FinishAsync(FailedRecord failed, CancellationToken token)
    {
        if (beforeFinish is not null)
        {
            await beforeFinish(failed, token).ConfigureAwait(false);
        }

        failed.State.Offsets.Complete(failed.Record.Offset.Value);
    }

    /// <summary>Whether a failed dead-letter write certainly wrote nothing (it never reached a broker).</summary>
    private static bool NotWritten(Exception e) => e switch
    {
        ProduceException<byte[]?, byte[]?> produce => produce.DeliveryResult?.Status == PersistenceStatus.NotPersisted,
        ObjectDisposedException or DeadLetterProducerUnavailableException => true,
        _ => false,
    };
}
