using System.Globalization;

namespace ReliableKafka.Delay.Internal;

/// <summary>
/// Schedule ids: a unique message id that also carries the due time (<c>&lt;32 hex digits&gt;-&lt;due Unix ms&gt;</c>), so that
/// a cancellation knows, without any stored state, whether it can still be sure to stop the message, and the forwarders
/// know how long to remember it.
/// </summary>
internal static class ScheduleIds
{
    public static string Create(TimeProvider time, DateTimeOffset dueAt) =>
        string.Create(CultureInfo.InvariantCulture, $"{Producing.Internal.MessageIds.NewIdUtf8(time).AsSpan().ToUtf8String()}-{dueAt.ToUnixTimeMilliseconds()}");

    /// <summary>The schedule id of a message that has an id of its own: the same for the same id, target and due time (a retried schedule is one message).</summary>
    public static string FromMessageId(string messageId, string topic, DateTimeOffset dueAt)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{topic}\n{messageId}"));
        return string.Create(CultureInfo.InvariantCulture, $"{Convert.ToHexString(hash, 0, 16).ToLowerInvariant()}-{dueAt.ToUnixTimeMilliseconds()}");
    }

    /// <summary>Reads the due time of a schedule id; false for a string that is not one.</summary>
    public static bool TryParse(string? scheduleId, out DateTimeOffset dueAt)
    {
        dueAt = default;
        // Only the exact spelling Create writes: another one (upper case, leading zeros) would name a different key.
        if (scheduleId is not { Length: > 33 } || scheduleId[32] != '-' || !scheduleId.AsSpan(0, 32).ContainsOnlyLowerHex())
        {
            return false;
        }

        if (!long.TryParse(scheduleId.AsSpan(33), NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()
            || (scheduleId.Length > 34 && scheduleId[33] == '0'))
        {
            return false;
        }

        dueAt = DateTimeOffset.FromUnixTimeMilliseconds(ms);
        return true;
    }

    private static string ToUtf8String(this Span<byte> bytes) => System.Text.Encoding.ASCII.GetString(bytes);

    private static bool ContainsOnlyLowerHex(this ReadOnlySpan<char> chars)
    {
        foreach (var c in chars)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
