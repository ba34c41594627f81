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

    /// <summary>Checks a tier list: at least one, each from 10 ms to 7 days in whole milliseconds, strictly increasing.</summary>
    public static IEnumerable<string> Problems(IReadOnlyList<TimeSpan> tiers)
    {
        for (var i = 0; i < tiers.Count; i++)
        {
            var tier = tiers[i];
            if (tier < TimeSpan.FromMilliseconds(10) || tier > TimeSpan.FromDays(7) || tier.Ticks % TimeSpan.TicksPerMillisecond != 0)
            {
                yield return $"Tiers[{i}] ({tier}) must be whole milliseconds from 10 ms to 7 days.";
            }
            else if (i > 0 && tier <= tiers[i - 1])
            {
                yield return $"Tiers[{i}] ({tier}) must be longer than Tiers[{i - 1}] ({tiers[i - 1]}): list the tiers shortest first, each once.";
            }
        }
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
