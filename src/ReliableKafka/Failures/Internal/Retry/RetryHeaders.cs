using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace ReliableKafka.Failures.Internal.Retry;

/// <summary>A partition that parked a key on a record's account, and the record's offset there.</summary>
internal readonly record struct ParkedPlace(string Topic, int Partition, long Offset)
{
    public TopicPartition TopicPartition => new(Topic, Partition);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Topic}:{Partition}:{Offset}");
}

/// <summary>Reads and writes the retry headers (<see cref="ReliableKafkaHeaders"/>, <c>reliablekafka-retry-*</c>).</summary>
internal static class RetryHeaders
{
    /// <summary>The prefix of every retry header.</summary>
    public const string Prefix = "reliablekafka-retry-";

    /// <summary>A retry topic's record may name at most this many parking places (one per level, plus its source).</summary>
    private const int MaxPlaces = 64;

    /// <summary>Reads the origin headers; null when any is missing or unreadable.</summary>
    public static RecordOrigin? ReadOrigin(Headers? headers)
    {
        if (Text(headers, ReliableKafkaHeaders.RetryOriginalTopic) is not { Length: > 0 } topic
            || Number(headers, ReliableKafkaHeaders.RetryOriginalPartition) is not { } partition || partition is < 0 or > int.MaxValue
            || Number(headers, ReliableKafkaHeaders.RetryOriginalOffset) is not { } offset || offset < 0
            || Number(headers, ReliableKafkaHeaders.RetryOriginalTimestamp) is not { } timestamp)
        {
            return null;
        }

        return new RecordOrigin(topic, (int)partition, offset, timestamp);
    }

    /// <summary>Reads when a record may be handled again; null when absent or unreadable.</summary>
    public static DateTimeOffset? ReadNotBefore(Headers? headers) =>
        Number(headers, ReliableKafkaHeaders.RetryNotBefore) is { } ms && ms >= 0 && ms <= DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : null;

    /// <summary>Reads how often the record failed for good and was sent on (0 when absent).</summary>
    public static int ReadCount(Headers? headers) => Number(headers, ReliableKafkaHeaders.RetryCount) is { } count and >= 0 and < int.MaxValue ? (int)count : 0;

    /// <summary>Reads the partitions that parked a key on the record's account (empty when none; unreadable entries are left out).</summary>
    public static List<ParkedPlace> ReadParkedIn(Headers? headers)
    {
        var places = new List<ParkedPlace>();
        if (Text(headers, ReliableKafkaHeaders.RetryParkedIn) is not { } text)
        {
            return places;
        }

        foreach (var entry in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = entry.Split(':');
            if (parts.Length == 3 && parts[0].Length > 0
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var partition)
                && long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
                && places.Count < MaxPlaces)
            {
                places.Add(new ParkedPlace(parts[0], partition, offset));
            }
        }

        return places;
    }

    /// <summary>
    /// The headers of a record's copy for its next retry topic: its own headers without earlier retry headers, then its
    /// origin, its first failure (this one, when it had none), how often it failed, when it may be handled again, and the
    /// partitions holding its key parked. Headers are replaced, not appended, so a record does not grow hop by hop.
    /// </summary>
    public static Headers ForNextLevel(
        ConsumeResult<byte[]?, byte[]?> record,
        RecordOrigin origin,
        Exception? failure,
        DateTimeOffset now,
        int count,
        DateTimeOffset notBefore,
        IReadOnlyList<ParkedPlace> parkedIn,
        int maxMessageLength)
    {
        var source = record.Message.Headers;
        var copy = new Headers();
        foreach (var header in source ?? [])
        {
            if (!header.Key.StartsWith(Prefix, StringComparison.Ordinal))
            {
                copy.Add(header.Key, header.GetValueBytes());
            }
        }

        void Add(string key, string value) => copy.Add(key, Encoding.UTF8.GetBytes(value));
        Add(ReliableKafkaHeaders.RetryOriginalTopic, origin.Topic);
        Add(ReliableKafkaHeaders.RetryOriginalPartition, Invariant(origin.Partition));
        Add(ReliableKafkaHeaders.RetryOriginalOffset, Invariant(origin.Offset));
        Add(ReliableKafkaHeaders.RetryOriginalTimestamp, Invariant(origin.TimestampMs));
        if (Text(source, ReliableKafkaHeaders.RetryFirstFailedAt) is { } firstAt)
        {
            Add(ReliableKafkaHeaders.RetryFirstFailedAt, firstAt);
            Add(ReliableKafkaHeaders.RetryFirstExceptionType, Text(source, ReliableKafkaHeaders.RetryFirstExceptionType) ?? string.Empty);
            Add(ReliableKafkaHeaders.RetryFirstExceptionMessage, Text(source, ReliableKafkaHeaders.RetryFirstExceptionMessage) ?? string.Empty);
        }
        else if (failure is not null)
        {
            Add(ReliableKafkaHeaders.RetryFirstFailedAt, now.ToString("O", CultureInfo.InvariantCulture));
            Add(ReliableKafkaHeaders.RetryFirstExceptionType, failure.GetType().FullName ?? failure.GetType().Name);
            Add(ReliableKafkaHeaders.RetryFirstExceptionMessage, DeadLetterWriter.Truncate(failure.Message, maxMessageLength));
        }

        Add(ReliableKafkaHeaders.RetryCount, Invariant(count));
        Add(ReliableKafkaHeaders.RetryNotBefore, Invariant(notBefore.ToUnixTimeMilliseconds()));
        if (parkedIn.Count > 0)
        {
            Add(ReliableKafkaHeaders.RetryParkedIn, string.Join(' ', parkedIn));
        }

        return copy;
    }

    private static string? Text(Headers? headers, string name) =>
        headers is not null && headers.TryGetLastBytes(name, out var bytes) && bytes is not null ? Encoding.UTF8.GetString(bytes) : null;

    private static long? Number(Headers? headers, string name) =>
        headers is not null && headers.TryGetLastBytes(name, out var bytes) && bytes is { Length: > 0 }
            && Utf8Parser.TryParse(bytes, out long value, out var consumed) && consumed == bytes.Length
            ? value
            : null;

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
