using System.Text;
using Confluent.Kafka;

namespace ReliableKafka.Producing.Internal;

/// <summary>Creates and reads the <see cref="ReliableKafkaHeaders.MessageId"/> header.</summary>
internal static class MessageIds
{
    private const int IdLength = 32;

    /// <summary>
    /// A new id as UTF-8: 32 hex digits; time-ordered (UUID version 7) where the runtime offers it, which keeps
    /// store indexes compact. Formatted straight to bytes: the header needs bytes, the string is made on demand.
    /// </summary>
    public static byte[] NewIdUtf8(TimeProvider time)
    {
#if NET9_0_OR_GREATER
        var guid = Guid.CreateVersion7(time.GetUtcNow());
#else
        _ = time;
        var guid = Guid.NewGuid();
#endif
        var bytes = new byte[IdLength];
        guid.TryFormat(bytes, out _, "N");
        return bytes;
    }

    /// <summary>The message id in the headers (the last such header wins), or null.</summary>
    public static string? Read(Headers? headers) =>
        ReadUtf8(headers) is { } bytes ? Encoding.UTF8.GetString(bytes) : null;

    /// <summary>The message id's bytes in the headers (the last such header wins), or null.</summary>
    public static byte[]? ReadUtf8(Headers? headers) =>
        headers is not null && headers.TryGetLastBytes(ReliableKafkaHeaders.MessageId, out var bytes) && bytes is { Length: > 0 } ? bytes : null;

    /// <summary>
    /// Copies the caller's headers (never modified) and makes sure the copy carries a message id; returns the
    /// id's bytes (shared with the header).
    /// </summary>
    public static byte[] CopyWithId(Headers? source, TimeProvider time, out Headers copy)
    {
        copy = Copy(source);
        if (ReadUtf8(copy) is { } existing)
        {
            return existing;
        }

        var id = NewIdUtf8(time);
        copy.Add(ReliableKafkaHeaders.MessageId, id);
        return id;
    }

    /// <summary>Copies the caller's headers, or returns null when there are none.</summary>
    public static Headers? CopyOrNull(Headers? source) => source is null || source.Count == 0 ? null : Copy(source);

    private static Headers Copy(Headers? source)
    {
        var copy = new Headers();
        if (source is not null)
        {
            foreach (var header in source)
            {
                copy.Add(header.Key, header.GetValueBytes());
            }
        }

        return copy;
    }
}
