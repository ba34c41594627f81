using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace ReliableKafka.Delay.Internal;

/// <summary>Reads and writes the delay headers (<see cref="ReliableKafkaHeaders.DelayTarget"/>, due and hop times in Unix milliseconds).</summary>
internal static class DelayHeaders
{
    /// <summary>A copy of the headers without the message id and the delay headers (a scheduled message gets its own).</summary>
    public static Headers WithoutDelayHeaders(Headers? source)
    {
        var copy = new Headers();
        if (source is not null)
        {
            foreach (var header in source)
            {
                if (header.Key is not (ReliableKafkaHeaders.MessageId or ReliableKafkaHeaders.DelayTarget or ReliableKafkaHeaders.DelayDueAt or ReliableKafkaHeaders.DelayHopAt))
                {
                    copy.Add(header.Key, header.GetValueBytes());
                }
            }
        }

        return copy;
    }

    /// <summary>A copy of a delay record's headers for its next hop (the hop time replaced) or for its target (no delay headers, the message id kept).</summary>
    public static Headers ForNextHop(Headers source, DateTimeOffset? hopAt)
    {
        var copy = new Headers();
        foreach (var header in source)
        {
            var delayHeader = header.Key is ReliableKafkaHeaders.DelayTarget or ReliableKafkaHeaders.DelayDueAt or ReliableKafkaHeaders.DelayHopAt;
            if (!delayHeader || (hopAt is not null && header.Key != ReliableKafkaHeaders.DelayHopAt))
            {
                copy.Add(header.Key, header.GetValueBytes());
            }
        }

        if (hopAt is { } hop)
        {
            SetHopAt(copy, hop);
        }

        return copy;
    }

    public static void SetHopAt(Headers headers, DateTimeOffset hopAt) =>
        headers.Add(ReliableKafkaHeaders.DelayHopAt, Encoding.UTF8.GetBytes(hopAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));

    /// <summary>Reads a time header (Unix milliseconds); null when absent or not a number.</summary>
    public static DateTimeOffset? ReadTime(Headers? headers, string name)
    {
        if (headers is null || !headers.TryGetLastBytes(name, out var bytes) || bytes is null
            || !Utf8Parser.TryParse(bytes, out long ms, out var consumed) || consumed != bytes.Length
            || ms < 0 || ms > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            return null;
        }

        return DateTimeOffset.FromUnixTimeMilliseconds(ms);
    }

    public static string? ReadText(Headers? headers, string name) =>
        headers is not null && headers.TryGetLastBytes(name, out var bytes) && bytes is { Length: > 0 } ? Encoding.UTF8.GetString(bytes) : null;
}
