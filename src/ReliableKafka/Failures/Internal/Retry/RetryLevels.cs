using Confluent.Kafka;

namespace ReliableKafka.Failures.Internal.Retry;

/// <summary>
/// The retry topics of a consumer (<see cref="FailurePolicy.RetryTopic"/>): level 0 is a source topic, level i (1-based)
/// the topic of the i-th backoff of that source. Immutable.
/// </summary>
internal sealed class RetryLevels
{
    private readonly Dictionary<string, (string Source, int Level)> _byTopic = new(StringComparer.Ordinal);

    public RetryLevels(string groupId, IEnumerable<string> sourceTopics, IReadOnlyList<TimeSpan> backoffs)
    {
        GroupId = groupId;
        Backoffs = backoffs;
        foreach (var source in sourceTopics)
        {
            for (var level = 1; level <= backoffs.Count; level++)
            {
                _byTopic[RetryTopicOptions.TopicFor(groupId, source, backoffs[level - 1])] = (source, level);
            }
        }
    }

    /// <summary>Gets the consumer group whose retry topics these are.</summary>
    public string GroupId { get; }

    /// <summary>Gets the backoff of each level (level i at index i - 1).</summary>
    public IReadOnlyList<TimeSpan> Backoffs { get; }

    /// <summary>Gets the number of retry levels.</summary>
    public int Count => Backoffs.Count;

    /// <summary>Gets every retry topic of every source topic.</summary>
    public IEnumerable<string> Topics => _byTopic.Keys;

    /// <summary>Creates the levels of a consumer whose failure policy is <see cref="FailurePolicy.RetryTopic"/>; null for any other.</summary>
    public static RetryLevels? For(ConsumerOptions options, DeliveryGuarantee guarantee) =>
        options.FailurePolicy == FailurePolicy.RetryTopic && guarantee != DeliveryGuarantee.AtMostOnce
            ? new RetryLevels(options.GroupId!, options.Topics, options.RetryTopic.EffectiveBackoffs)
            : null;

    /// <summary>Gets the source topic and level of a topic the consumer reads (level 0 for a source topic).</summary>
    public (string Source, int Level) Locate(string topic) => _byTopic.TryGetValue(topic, out var found) ? found : (topic, 0);

    /// <summary>Whether a topic is one of the retry topics.</summary>
    public bool IsRetryTopic(string topic) => _byTopic.ContainsKey(topic);

    /// <summary>Gets the topic of a level (1-based) of a source topic.</summary>
    public string TopicOf(string source, int level) => RetryTopicOptions.TopicFor(GroupId, source, Backoffs[level - 1]);

    /// <summary>Gets where a record was first consumed: from its headers in a retry topic, else the record itself.</summary>
    public RecordOrigin OriginOf(ConsumeResult<byte[]?, byte[]?> record) =>
        IsRetryTopic(record.Topic) && RetryHeaders.ReadOrigin(record.Message.Headers) is { } origin ? origin : RecordOrigin.Of(record);
}
