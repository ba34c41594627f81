using ReliableKafka.Configuration.Internal;

namespace ReliableKafka.Deduplication;

/// <summary>What every deduplication store shares: how long processed ids are remembered and how often old ones are purged.</summary>
public abstract class DeduplicationStoreOptions
{
    /// <summary>
    /// Gets or sets how long a processed message id is remembered: a duplicate that arrives later is handled
    /// again. Cover your longest redelivery window (a consumer group's restart, a producer's resend, a replay).
    /// </summary>
    /// <value>The default is 7 days (Kafka's default topic retention); <see cref="InMemoryDeduplicationOptions"/> uses 1 hour.</value>
    [OptionRange(1_000, 3_650L * 86_400_000)]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Gets or sets how often ids older than <see cref="Retention"/> are purged in the background.</summary>
    /// <value>The default is 5 minutes.</value>
    [OptionRange(100, 86_400_000)]
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromMinutes(5);
}
