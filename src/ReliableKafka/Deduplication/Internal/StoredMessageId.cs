using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace ReliableKafka.Deduplication.Internal;

/// <summary>
/// The form in which a database store keeps a message id, so that every id fits: ids are chosen by producers and
/// selectors, and a database refuses some (PostgreSQL: NUL characters, and keys beyond its index row limit of about
/// 2.7 KB). Short, plain ids are kept as they are; any other id is kept as a readable prefix, a control character
/// (which no plain id contains) and its SHA-256 (of its exact UTF-16LE text), which is as unique as the id itself. The
/// consumer still logs the original id.
/// </summary>
internal static class StoredMessageId
{
    /// <summary>Ids up to this many characters, without control characters or lone surrogates, are kept as they are.</summary>
    public const int MaxPlainLength = 256;

    private const int PrefixLength = 64;
    private const char HashedMarker = '\u0001';

    /// <summary>The stored form of a message id.</summary>
    public static string Of(string messageId)
    {
        if (messageId.Length <= MaxPlainLength && IsPlain(messageId))
        {
            return messageId;
        }

        var hash = Convert.ToHexString(SHA256.HashData(Utf16LittleEndian(messageId))).ToLowerInvariant();
        var prefix = new StringBuilder(PrefixLength + 80);
        foreach (var c in messageId.AsSpan(0, Math.Min(PrefixLength, messageId.Length)))
        {
            prefix.Append(char.IsControl(c) || char.IsSurrogate(c) ? '?' : c);
        }

        // The marker is a control character, which no id kept as it is contains: the two forms never meet.
        return prefix.Append(HashedMarker).Append("sha256:").Append(hash).ToString();
    }

    /// <summary>The stored form of a key's message id.</summary>
    public static DeduplicationKey Of(DeduplicationKey key) => key with { MessageId = Of(key.MessageId) };

    /// <summary>The id's exact UTF-16 code units, little-endian (lone surrogates included: no replacement character).</summary>
    private static byte[] Utf16LittleEndian(string id)
    {
        var bytes = new byte[id.Length * 2];
        for (var i = 0; i < id.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), id[i]);
        }

        return bytes;
    }

    private static bool IsPlain(string id)
    {
        for (var i = 0; i < id.Length; i++)
        {
            var c = id[i];
            if (char.IsControl(c))
            {
                return false;
            }

            if (char.IsHighSurrogate(c) && i + 1 < id.Length && char.IsLowSurrogate(id[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return false;
            }
        }

        return true;
    }
}
