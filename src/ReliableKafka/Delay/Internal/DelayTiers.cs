using System.Globalization;

namespace ReliableKafka.Delay.Internal;

/// <summary>The tier arithmetic: which tier a remaining delay goes to, when a record may leave it, and tier names.</summary>
internal static class DelayTiers
{
    /// <summary>
    /// The tier for a remaining delay: the largest not longer than it (so a record never waits past its due time in a
    /// tier), or the shortest when the delay is shorter than every tier (it then waits there until due).
    /// </summary>
    public static TimeSpan Choose(IReadOnlyList<TimeSpan> tiers, TimeSpan remaining)
    {
        var chosen = tiers[0];
        foreach (var tier in tiers)
        {
            if (tier <= remaining && tier > chosen)
            {
                chosen = tier;
            }
        }

        return chosen;
    }

    /// <summary>When a record entering <paramref name="tier"/> at <paramref name="now"/> may leave it: a tier later, or when due if sooner.</summary>
    public static DateTimeOffset HopAt(DateTimeOffset now, DateTimeOffset dueAt, TimeSpan tier)
    {
        var end = now + tier;
        return dueAt < end ? dueAt : end;
    }

    /// <summary>A tier's name in topic names: <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>24h</c>.</summary>
    public static string Name(TimeSpan tier)
    {
        var ms = (long)tier.TotalMilliseconds;
        return ms % 3_600_000 == 0 ? Invariant(ms / 3_600_000) + "h"
            : ms % 60_000 == 0 ? Invariant(ms / 60_000) + "m"
            : ms % 1_000 == 0 ? Invariant(ms / 1_000) + "s"
            : Invariant(ms) + "ms";
    }

    /// <summary>The shortest tier allowed: a few times <see cref="DelayGate.Lookahead"/>, so that a record is not taken as soon as it is written.</summary>
    public static readonly TimeSpan Shortest = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest tier allowed (tier topics keep records for their tier plus <see cref="RetentionMargin"/>).</summary>
    public static readonly TimeSpan Longest = TimeSpan.FromDays(7);

    /// <summary>How much longer than its tier a tier topic created at startup keeps records (a forwarder outage of that long loses none).</summary>
    public static readonly TimeSpan RetentionMargin = TimeSpan.FromDays(7);

    /// <summary>Checks a tier list: each from 100 ms to 7 days in whole milliseconds, strictly increasing.</summary>
    public static IEnumerable<string> Problems(IReadOnlyList<TimeSpan> tiers)
    {
        for (var i = 0; i < tiers.Count; i++)
        {
            var tier = tiers[i];
            if (tier < Shortest || tier > Longest || tier.Ticks % TimeSpan.TicksPerMillisecond != 0)
            {
                yield return $"Tiers[{i}] ({tier}) must be whole milliseconds from 100 ms to 7 days.";
            }
            else if (i > 0 && tier <= tiers[i - 1])
            {
                yield return $"Tiers[{i}] ({tier}) must be longer than Tiers[{i - 1}] ({tiers[i - 1]}): list the tiers shortest first, each once.";
            }
        }
    }

    /// <summary>Reads the tier of a tier topic's name (<c>&lt;prefix&gt;.delay.30s</c>); null for another name.</summary>
    public static TimeSpan? FromTopic(string topic)
    {
        var name = topic[(topic.LastIndexOf('.') + 1)..];
        var unit = name.EndsWith("ms", StringComparison.Ordinal) ? 1L
            : name.EndsWith('s') ? 1_000L : name.EndsWith('m') ? 60_000L : name.EndsWith('h') ? 3_600_000L : 0L;
        var suffix = unit == 1 ? 2 : 1;
        if (unit == 0 || name.Length <= suffix)
        {
            return null;
        }

        var digits = name.AsSpan(0, name.Length - suffix);
        return digits.Length < 10 && long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count * unit <= (long)Longest.TotalMilliseconds
            ? TimeSpan.FromMilliseconds(count * unit)
            : null;
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
