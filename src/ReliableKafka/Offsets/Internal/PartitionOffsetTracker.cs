namespace ReliableKafka.Offsets.Internal;

/// <summary>
/// Tracks the records of one partition from dispatch to completion and yields the offset that is safe to
/// commit: the lowest offset that has not finished, or one past the last registered offset when all have.
/// Records may finish in any order; the committable offset never passes an unfinished record. Thread-safe.
/// </summary>
/// <remarks>
/// Registered offsets are kept in a ring buffer in offset order with a finished flag; finishing the oldest
/// record pops every finished record at the head, so each record costs O(1) amortized plus a binary search.
/// Offsets need not be contiguous (compaction and transaction markers leave gaps).
/// </remarks>
internal sealed class PartitionOffsetTracker
{
    private readonly object _gate = new();
    private long[] _offsets = new long[16];
    private bool[] _finished = new bool[16];
    private int _head;
    private int _count;
    private int _finishedPending; // finished records still in the ring (all beyond the head, which is unfinished)
    private long _lastRegistered = -1;

    /// <summary>Gets the number of registered records that have not finished, or have finished behind an unfinished one.</summary>
    public int Pending
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    /// <summary>
    /// Gets the offset to commit: the lowest unfinished offset, or the last registered offset + 1 when every
    /// record finished; <see langword="null"/> before any record was registered.
    /// </summary>
    public long? Committable
    {
        get
        {
            lock (_gate)
            {
                if (_count > 0)
                {
                    return _offsets[_head];
                }

                return _lastRegistered >= 0 ? _lastRegistered + 1 : null;
            }
        }
    }

    /// <summary>Gets the lowest registered offset that has not finished, or <see langword="null"/> when none is pending.</summary>
    public long? LowestUnfinished
    {
        get
        {
            lock (_gate)
            {
                return _count > 0 ? _offsets[_head] : null;
            }
        }
    }

    /// <summary>
    /// Takes the committable offset together with the offsets beyond it that have finished (ascending), consistently.
    /// </summary>
    public (long? Committable, List<long> FinishedBeyond) Snapshot()
    {
        lock (_gate)
        {
            var finished = new List<long>();
            if (_count == 0)
            {
                return (_lastRegistered >= 0 ? _lastRegistered + 1 : null, finished);
            }

            for (var i = 1; i < _count; i++)
            {
                var index = (_head + i) % _offsets.Length;
                if (_finished[index])
                {
                    finished.Add(_offsets[index]);
                }
            }

            return (_offsets[_head], finished);
        }
    }

    /// <summary>Gets the committable offset and how many records finished beyond it, consistently, without allocating.</summary>
    public (long? Committable, int FinishedBeyond) Progress()
    {
        lock (_gate)
        {
            if (_count == 0)
            {
                return (_lastRegistered >= 0 ? _lastRegistered + 1 : null, 0);
            }

            return (_offsets[_head], _finishedPending);
        }
    }

    /// <summary>Registers a dispatched record. Returns false (and changes nothing) for an offset at or below one registered before.</summary>
    public bool Register(long offset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        lock (_gate)
        {
            if (offset <= _lastRegistered)
            {
                return false;
            }

            if (_count == _offsets.Length)
            {
                Grow();
            }

            var index = (_head + _count) % _offsets.Length;
            _offsets[index] = offset;
            _finished[index] = false;
            _count++;
            _lastRegistered = offset;
            return true;
        }
    }

    /// <summary>Marks a registered record finished. Returns false when the offset is not pending (never registered, or finished already).</summary>
    public bool Complete(long offset)
    {
        lock (_gate)
        {
            var index = Find(offset);
            if (index < 0 || _finished[index])
            {
                return false;
            }

            _finished[index] = true;
            _finishedPending++;
            while (_count > 0 && _finished[_head])
            {
                _head = (_head + 1) % _offsets.Length;
                _count--;
                _finishedPending--;
            }

            return true;
        }
    }

    // Binary search over the logical (offset-ordered) positions of the ring; returns the physical index or -1.
    private int Find(long offset)
    {
        int low = 0, high = _count - 1;
        while (low <= high)
        {
            var mid = low + ((high - low) / 2);
            var index = (_head + mid) % _offsets.Length;
            var value = _offsets[index];
            if (value == offset)
            {
                return index;
            }

            if (value < offset)
            {
                low = mid + 1;
            }
            else
            {
                high = mid - 1;
            }
        }

        return -1;
    }

    private void Grow()
    {
        var offsets = new long[_offsets.Length * 2];
        var finished = new bool[offsets.Length];
        for (var i = 0; i < _count; i++)
        {
            var index = (_head + i) % _offsets.Length;
            offsets[i] = _offsets[index];
            finished[i] = _finished[index];
        }

        _offsets = offsets;
        _finished = finished;
        _head = 0;
    }
}
