using Confluent.Kafka;
using ReliableKafka.Diagnostics.Internal;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// Decides which fetched records the engine takes, and keeps at most <see cref="ConsumerOptions.MaxBufferedRecords"/>
/// taken and unfinished: holds (the gap bound, a partition's fair share, a full buffer), which partitions pause, and
/// which records were refused. A refused record is never skipped: its partition restarts fetching at it.
/// The holds belong to the poll thread; the buffer count is shared with the lanes, which release what finished.
/// </summary>
/// <remarks>
/// Not disposable on purpose: a handler abandoned after a timeout may still release its record after the engine
/// stopped, and the event holds no unmanaged resource (its wait handle is never requested).
/// </remarks>
#pragma warning disable CA1001 // See remarks.
internal sealed class Admission(EngineContext context, AssignedPartitions partitions, PauseReconciler pauses)
#pragma warning restore CA1001
{
    // When the buffer fills, polling first holds off this long for the lanes to drain before partitions are
    // paused: pausing makes librdkafka drop what it fetched ahead, which then has to be fetched again.
    private static readonly TimeSpan DefaultBackpressureHold = TimeSpan.FromMilliseconds(250);

    // Any thread (lanes release, the poll thread admits).
    private readonly ManualResetEventSlim _drained = new(initialState: false);
    private readonly int _lowMark = context.Options.MaxBufferedRecords / 2;
    private volatile bool _holding;
    private int _buffered;
    private long _progressAt;
    private int _operatorChanged; // any thread sets it (RequestOperatorPause); the poll thread takes it

    // Poll thread only: held partitions in hold order, and whether handlers fall behind.
    private readonly List<PartitionState> _held = [];
    private bool _slowHandlers;

    /// <summary>
    /// Gets how long polling holds off for the handlers when the buffer is full before it pauses partitions
    /// (250 ms). Tests shorten it to drive the paused path with fast handlers.
    /// </summary>
    public TimeSpan BackpressureHold { get; set; } = DefaultBackpressureHold;

    /// <summary>Gets the number of records taken and not finished (queued or running); any thread.</summary>
    public int Buffered => Volatile.Read(ref _buffered);

    /// <summary>Gets when a record last finished (or was dropped), or the buffer last stopped being empty (a timestamp): progress.</summary>
    public long ProgressAt => Volatile.Read(ref _progressAt);

    /// <summary>
    /// Gets how long the next poll may wait (poll thread): briefly while a partition is held for room in the buffer,
    /// until the earliest due record while partitions wait for due records only, else <paramref name="idle"/>.
    /// </summary>
    public TimeSpan PollTimeout(TimeSpan idle, TimeSpan holding)
    {
        var timeout = idle;
        var now = context.Time.GetUtcNow();
        foreach (var state in _held)
        {
            if ((state.Hold & HoldReasons.Operator) == 0 && (state.Hold & (HoldReasons.Gap | HoldReasons.Share | HoldReasons.Buffer)) != 0)
            {
                return holding; // backpressure: the handlers' progress releases it, so poll often
            }

            if (state.DueAt is { } due)
            {
                var wait = due - now;
                timeout = wait < timeout ? (wait > TimeSpan.FromMilliseconds(1) ? wait : TimeSpan.FromMilliseconds(1)) : timeout;
            }
        }

        return timeout;
    }

    /// <summary>Gets a value indicating whether the buffer has room for another record.</summary>
    public bool HasRoom => Buffered < context.Options.MaxBufferedRecords;

    /// <summary>Each partition's share of the buffer when it is full.</summary>
    private int FairShare => Math.Max(1, context.Options.MaxBufferedRecords / Math.Max(1, partitions.Count));

    /// <summary>
    /// Decides whether the engine takes a fetched record now, and if so counts it in the buffer. A record refused
    /// here is not registered, and librdkafka has moved past it: the partition pauses and, once it may take
    /// records again, fetching restarts at the first record it refused.
    /// </summary>
    public PartitionState? TryAdmit(ConsumeResult<byte[]?, byte[]?> record)
    {
        if (partitions.Find(record.TopicPartition) is not { } state)
        {
            return null;
        }

        state.LastFetched = context.Time.GetTimestamp();

        if (state.Hold != HoldReasons.None || state.RefusedAt is not null)
        {
            state.Refuse(record);
            return null;
        }

        if (context.Gate?.NotBefore(record) is { } due && due > context.Time.GetUtcNow())
        {
            // Not due: the partition waits, paused, and fetching restarts at this record once it is.
            state.DueAt = due;
            Hold(state, HoldReasons.NotDue);
            state.Refuse(record);
            return null;
        }

        if (!context.AtMostOnce && state.BeyondGapBound(record.Offset.Value))
        {
            Hold(state, HoldReasons.Gap);
            state.Refuse(record);
            Log.GapFull(context.Logger, context.Name, record.TopicPartition, record.Offset.Value, state.CommitFloor ?? 0);
            return null;
        }

        // With slow handlers, no partition takes more than its share, so that a partition whose fetch arrives first
        // cannot take the room that frees up from the others.
        var share = FairShare;
        if (!HasRoom || (_slowHandlers && state.Buffered >= share))
        {
            Hold(state, state.Buffered >= share ? HoldReasons.Share : HoldReasons.Buffer);
            state.Refuse(record);
            return null;
        }

        if (Volatile.Read(ref _buffered) == 0)
        {
            // Busy from now: no progress is measured from here. Written before the count (only this thread adds), so a
            // reader that sees records buffered sees this time or a later one.
            Volatile.Write(ref _progressAt, context.Time.GetTimestamp());
        }

        Interlocked.Increment(ref _buffered);
        return state;
    }

    /// <summary>Lets held partitions take records again once the reason passed (they resume where they stopped).</summary>
    public void ReleaseHolds()
    {
        if (_held.Count == 0)
        {
            return;
        }

        // Room in a full buffer goes to the partitions that have waited longest (the list is in hold order; a
        // partition held again goes to its end), one share per partition, so that none is starved by others
        // whose fetches happen to arrive first.
        var share = FairShare;
        var room = context.Options.MaxBufferedRecords - Buffered;
        var now = context.Time.GetUtcNow();
        _held.RemoveAll(state =>
        {
            if (!partitions.IsCurrent(state))
            {
                state.InHeldList = false;
                return true;
            }

            if ((state.Hold & HoldReasons.NotDue) != 0 && (state.DueAt is not { } due || due <= now))
            {
                state.Hold &= ~HoldReasons.NotDue;
                state.DueAt = null;
            }

            // The record fetching restarts at is the first refused one (a compaction gap may lie between it and the
            // position after the last record taken): the hold ends once that record fits the bound with room to spare.
            var next = state.RefusedAt?.Offset.Value ?? state.NextPosition?.Offset.Value ?? 0;
            if ((state.Hold & HoldReasons.Gap) != 0 && (state.CommitFloor is not { } lowest || next - lowest < OffsetGapCodec.MaxSpan / 2))
            {
                state.Hold &= ~HoldReasons.Gap;
            }

            if ((state.Hold & HoldReasons.Share) != 0 && state.Buffered <= share / 2)
            {
                state.Hold &= ~HoldReasons.Share;
            }

            if (state.Hold == HoldReasons.Buffer && room >= Math.Max(1, share / 2))
            {
                state.Hold = HoldReasons.None;
                room -= share;
            }

            if (state.Hold != HoldReasons.None)
            {
                return false;
            }

            state.InHeldList = false;
            pauses.Request();
            return true;
        });
    }

    /// <summary>
    /// Keeps at most MaxBufferedRecords records fetched but unfinished. When the buffer is full, polling first
    /// holds off (up to <see cref="BackpressureHold"/>) for the handlers to drain it to half: with fast handlers
    /// that is all it takes, and librdkafka keeps what it fetched ahead. If they did not (slow handlers), the
    /// partitions holding at least their fair share of the buffer are paused, and any record that would overfill
    /// it is left untaken (its partition pauses and later resumes right there), so that partitions short of
    /// records get the room as it frees up: every partition keeps its handlers busy.
    /// </summary>
    public void UpdateBackpressure()
    {
        var buffered = Buffered;
        if (_slowHandlers)
        {
            if (buffered <= _lowMark && !_held.Any(s => (s.Hold & (HoldReasons.Share | HoldReasons.Buffer)) != 0))
            {
                _slowHandlers = false;
                Log.BackpressureOff(context.Logger, context.Name, buffered);
            }

            return;
        }

        if (HasRoom || HoldUntilDrained())
        {
            return;
        }

        _slowHandlers = true;
        Log.BackpressureOn(context.Logger, context.Name, Buffered, context.Options.MaxBufferedRecords);
        var share = FairShare;
        foreach (var state in partitions.All)
        {
            if (state.Buffered >= share)
            {
                Hold(state, HoldReasons.Share);
            }
        }
    }

    /// <summary>Counts a record of a partition as finished (or dropped); any thread.</summary>
    public void Release(PartitionState state, int records)
    {
        state.Release(records);
        Release(records);
    }

    /// <summary>Counts records as no longer buffered and wakes a holding poll loop once the buffer is down to half; any thread.</summary>
    public void Release(int records)
    {
        Volatile.Write(ref _progressAt, context.Time.GetTimestamp());
        if (Interlocked.Add(ref _buffered, -records) <= _lowMark && _holding)
        {
            _drained.Set();
        }
    }

    private void Hold(PartitionState state, HoldReasons reason)
    {
        // Listed once, whatever else holds it (an operator's pause, say): only listed partitions are ever released.
        if (!state.InHeldList)
        {
            state.InHeldList = true;
            _held.Add(state);
        }

        state.Hold |= reason;
        pauses.Request();
    }

    /// <summary>
    /// Pauses or resumes a partition's current assignment for an operator (any thread); <see cref="ApplyOperatorPauses"/>
    /// applies it on the poll thread. Returns false when the state is no longer this member's (it was revoked meanwhile).
    /// </summary>
    public bool RequestOperatorPause(PartitionState state, bool paused)
    {
        state.OperatorPauseRequested = paused;
        Volatile.Write(ref _operatorChanged, 1);
        return partitions.Published.Contains(state);
    }

    /// <summary>
    /// Makes the partitions' operator holds match the operator's requests (poll thread): a paused partition takes no
    /// records (they are refused and fetched again once it is resumed, like any hold). Backpressure holds mean nothing
    /// while the operator holds a partition; they are dropped, and taken again after the resume if still due.
    /// </summary>
    public void ApplyOperatorPauses()
    {
        if (Interlocked.Exchange(ref _operatorChanged, 0) == 0)
        {
            return;
        }

        foreach (var state in partitions.All)
        {
            var wanted = state.OperatorPauseRequested;
            if (wanted == ((state.Hold & HoldReasons.Operator) != 0))
            {
                continue;
            }

            if (wanted)
            {
                state.Hold &= ~(HoldReasons.Share | HoldReasons.Buffer);
                Hold(state, HoldReasons.Operator);
            }
            else
            {
                state.Hold &= ~HoldReasons.Operator;
                pauses.Request(); // ReleaseHolds takes it off the list once nothing else holds it
            }
        }
    }

    /// <summary>Waits up to <see cref="BackpressureHold"/> for the lanes to drain the buffer to half; returns whether they did.</summary>
    private bool HoldUntilDrained()
    {
        _drained.Reset();
        _holding = true;
        try
        {
            return Buffered <= _lowMark || _drained.Wait(BackpressureHold);
        }
        finally
        {
            _holding = false;
        }
    }
}
