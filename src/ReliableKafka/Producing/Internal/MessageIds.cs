using System.Text;
using Confluent.Kafka;

namespace ReliableKafka.Producing.Internal;

/// <summary>Creates and reads the <see cref="ReliableKafkaHeaders.MessageId"/> header.</summary>
internal static class MessageIds
{
    /// <summary>A new id: 32 hex digits; time-ordered (UUID version 7) where the runtime offers it, which keeps store indexes compact.</summary>
    public static string NewId(TimeProvider time)
    {
#if NET9_0_OR_GREATER
        return Guid.CreateVersion7(time.GetUtcNow()).ToString("N");
#else
        _ = time;
        return Guid.NewGuid().ToString("N");
#endif
    }

    /// <summary>The message id in the headers (the last such header wins), or null.</summary>
    public static string? Read(Headers? headers)
    {
        if (headers is not null && headers.TryGetLastBytes(ReliableKafkaHeaders.MessageId, out var bytes) && bytes is { Length: > 0 })
        {
            return Encoding.UTF8.GetString(bytes);
        }

        return null;
    }

    /// <summary>Copies the caller's headers (never modified) and makes sure the copy carries a message id; returns the id.</summary>
    public static string CopyWithId(Headers? source, TimeProvider time, out Headers copy)
    {
        copy = [];
        if (source is not null)
        {
            foreach (var header in source)
            {
                copy.Add(header.Key, header.GetValueBytes());
            }
        }

        var id = Read(copy);
        if (id is null)
        {
            id = NewId(time);
            copy.Add(ReliableKafkaHeaders.MessageId, Encoding.UTF8.GetBytes(id));
        }

        return id;
    }
}
