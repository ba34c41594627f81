using System.Globalization;
using Confluent.Kafka;

namespace ReliableKafka.IntegrationTests.Faults;

/// <summary>
/// What a fault run produced, what its handlers did and what its members committed, and the invariants over them:
/// L (every acknowledged record processed or dead-lettered), D (each id's side effect at most once), O (per key,
/// first-time effects in log order, and never two handlers of a key at once), C (every committed offset covers only
/// records processed or dead-lettered by then). Effects are applied atomically with the deduplication store's
/// completion (<see cref="FaultInbox"/>), the way a transactional inbox commits them.
/// </summary>
internal sealed class World
{
    private readonly object _gate = new();
    private readonly Dictionary<string, FaultMessage> _acknowledged = [];
    private readonly Dictionary<string, int> _effects = [];
    private readonly Dictionary<string, long> _firstEffect = [];
    private readonly Dictionary<string, long> _lastEffectOffset = [];
    private readonly Dictionary<string, int> _running = [];
    private readonly HashSet<string> _started = [];
    private readonly List<(string Member, TopicPartition Partition, long Offset, long EffectsSoFar)> _commits = [];
    private readonly List<string> _violations = [];
    private long _effectCount;
    private int _orderViolations;
    private int _handlerRedeliveries;

    public object Gate => _gate;

    /// <summary>
    /// Gets or sets whether the order of first-time effects is checked by the messages' per-key sequence numbers rather
    /// than their offsets (records handled from retry topics have offsets of their own).
    /// </summary>
    public bool OrderBySequence { get; set; }

    /// <summary>Whether a message's effect was applied.</summary>
    public bool IsProcessed(string id)
    {
        lock (_gate)
        {
            return _effects.ContainsKey(id);
        }
    }

    public int Acknowledged
    {
        get
        {
            lock (_gate)
            {
                return _acknowledged.Count;
            }
        }
    }

    public void Acknowledge(FaultMessage message)
    {
        lock (_gate)
        {
            _acknowledged[message.Id] = message;
        }
    }

    /// <summary>A handler starts: counts a redelivery when the id was handled before, and flags a key handled twice at once.</summary>
    public void HandlerStarted(FaultMessage message)
    {
        lock (_gate)
        {
            if (!_started.Add(message.Id))
            {
                _handlerRedeliveries++;
            }

            var running = _running.GetValueOrDefault(message.Key) + 1;
            _running[message.Key] = running;
            if (running > 1)
            {
                _orderViolations++;
                Violation($"order: key {message.Key} has {running} handlers running at once ({message.Id})");
            }
        }
    }

    public void HandlerEnded(FaultMessage message)
    {
        lock (_gate)
        {
            _running[message.Key]--;
        }
    }

    /// <summary>Applies a record's side effect (called with the store's completion, under <see cref="Gate"/>).</summary>
    public void ApplyEffect(FaultMessage message, long offset)
    {
        lock (_gate)
        {
            var count = _effects.GetValueOrDefault(message.Id) + 1;
            _effects[message.Id] = count;
            if (count > 1)
            {
                Violation($"duplicate effect: {message.Id} (key {message.Key}) applied {count} times");
                return;
            }

            _firstEffect[message.Id] = ++_effectCount;
            if (OrderBySequence)
            {
                offset = message.Seq;
            }

            if (_lastEffectOffset.TryGetValue(message.Key, out var last) && offset <= last)
            {
                _orderViolations++;
                Violation($"order: key {message.Key}: {message.Id} @{offset} took effect after @{last}");
            }

            _lastEffectOffset[message.Key] = Math.Max(offset, last);
        }
    }

    public int ProcessedCount
    {
        get
        {
            lock (_gate)
            {
                return _effects.Count;
            }
        }
    }

    /// <summary>A member's commit took effect (or, for member "check", the committed offsets read after a fault).</summary>
    public void Committed(string member, IEnumerable<(TopicPartition Partition, long Offset)> offsets)
    {
        lock (_gate)
        {
            foreach (var (partition, offset) in offsets)
            {
                _commits.Add((member, partition, offset, _effectCount));
            }
        }
    }

    /// <summary>Evaluates the invariants once the run is over.</summary>
    /// <param name="log">Every record of the topic: its partition, offset and id.</param>
    /// <param name="deadLettered">The dead-letter topic's records: their original partition, offset and id.</param>
    /// <param name="suppressed">Duplicates the consumers suppressed (counted by the library).</param>
    /// <param name="sourceTopic">The topic of <paramref name="log"/>; null when every commit is of it.</param>
    /// <param name="forwarded">
    /// Whether a record was settled by being sent on (to a retry topic); for commits of other topics than
    /// <paramref name="sourceTopic"/> (retry topics), whether the record at that offset was settled. Null for none.
    /// </param>
    public FaultReport Check(
        IReadOnlyList<(int Partition, long Offset, string Id)> log,
        IReadOnlyList<(int Partition, long Offset, string Id)> deadLettered,
        long suppressed,
        string? sourceTopic = null,
        Func<TopicPartition, long, bool>? forwarded = null)
    {
        lock (_gate)
        {
            var idAt = log.ToDictionary(r => (r.Partition, r.Offset), r => r.Id);
            var dead = deadLettered.Select(d => (d.Partition, d.Offset)).ToHashSet();
            var deadIds = deadLettered.Select(d => d.Id).ToHashSet(StringComparer.Ordinal);
            var lost = _acknowledged.Keys.Where(id => !_effects.ContainsKey(id) && !deadIds.Contains(id)).ToList();
            foreach (var id in lost.Take(10))
            {
                Violation($"lost: {id} (key {_acknowledged[id].Key}) was acknowledged but neither processed nor dead-lettered");
            }

            var commitViolations = 0;
            foreach (var (member, partition, offset, effectsSoFar) in _commits)
            {
                var source = sourceTopic is null || partition.Topic == sourceTopic;
                for (var o = 0L; o < offset; o++)
                {
                    var ok = source
                        ? dead.Contains((partition.Partition.Value, o))
                            || (idAt.TryGetValue((partition.Partition.Value, o), out var id) && _firstEffect.TryGetValue(id, out var at) && at <= effectsSoFar)
                            || forwarded?.Invoke(partition, o) == true
                        : forwarded?.Invoke(partition, o) != false;
                    if (!ok)
                    {
                        commitViolations++;
                        Violation($"commit: {member} committed {partition.Topic} [{partition.Partition.Value}] @{offset} before @{o} ({(idAt.TryGetValue((partition.Partition.Value, o), out var which) ? which : "unknown id")}) was processed or dead-lettered");
                        break;
                    }
                }
            }

            return new FaultReport(
                Records: _acknowledged.Count,
                Redeliveries: _handlerRedeliveries + suppressed,
                Lost: lost.Count,
                DuplicateEffects: _effects.Values.Sum(c => c - 1),
                OrderViolations: _orderViolations,
                CommitViolations: commitViolations,
                Commits: _commits.Count,
                Violations: [.. _violations.Take(20)]);
        }
    }

    private void Violation(string text)
    {
        if (_violations.Count < 1000)
        {
            _violations.Add(text);
        }
    }
}

/// <summary>The figures of one scenario run.</summary>
internal sealed record FaultReport(
    int Records, long Redeliveries, int Lost, int DuplicateEffects, int OrderViolations, int CommitViolations, int Commits, IReadOnlyList<string> Violations)
{
    public string Line(string scenario, int seed, int faults) => string.Create(
        CultureInfo.InvariantCulture,
        $"fault scenario={scenario} seed={seed} records={Records} faults={faults} redeliveries={Redeliveries} lost={Lost} dup_effects={DuplicateEffects} order_violations={OrderViolations} commit_violations={CommitViolations}");
}
