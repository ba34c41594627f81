using System.Globalization;
using ReliableKafka.Configuration.Internal;

namespace ReliableKafka;

/// <summary>
/// The retry topics of a consumer whose <see cref="ConsumerOptions.FailurePolicy"/> is <see cref="FailurePolicy.RetryTopic"/>
/// (<c>ReliableKafka:Consumers:&lt;name&gt;:RetryTopic</c>). Each backoff has a topic per source topic and consumer group,
/// <c>&lt;topic&gt;.retry.&lt;group&gt;.&lt;backoff&gt;</c> (<c>orders.retry.billing.10s</c>, <c>orders.retry.billing.1m</c>), which the
/// consumer reads too: a record waits there until its backoff has passed since it failed, then is handled again.
/// </summary>
public sealed class RetryTopicOptions
{
    /// <summary>The part of a retry topic's name between its source topic and its consumer group.</summary>
    public const string TopicInfix = ".retry.";

    /// <summary>The suffix of the default parking topic: the consumer group followed by it.</summary>
    public const string DefaultParkingTopicSuffix = ".parking";

    internal static readonly TimeSpan[] DefaultBackoffs = [TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(10)];

    /// <summary>
    /// Gets the backoffs, one retry topic each, shortest first (each from 100 ms to 7 days in whole milliseconds): a record
    /// that fails for good (after its in-place <see cref="ConsumerOptions.Retry"/> attempts) goes to the first retry topic and
    /// is handled again once the first backoff has passed; failing there, to the second; and so on. Each record has as
    /// many retries as there are backoffs, then goes to the dead-letter topic: a record that followed its parked key into
    /// a retry topic and fails there has its retries from there on, those left in the last retry topic in place (its
    /// key waits there, other keys go on).
    /// Records that cannot be deserialized, and failures <see cref="RetryOptions.IsTransient"/> calls final, go to the
    /// dead-letter topic at once.
    /// </summary>
    /// <value>The default is 10 s, 1 min and 10 min (when none is set).</value>
    public List<TimeSpan> Backoffs { get; } = [];

    /// <summary>Gets or sets what happens to the later records of a failed record's key.</summary>
    /// <value>The default is <see cref="KeyOrderOnFailure.Park"/>: they follow it in order.</value>
    public KeyOrderOnFailure KeyOrder { get; set; } = KeyOrderOnFailure.Park;

    /// <summary>
    /// Gets or sets the compacted topic through which the members of the group learn that a parked key was released (a
    /// record that held it was handled or dead-lettered). Every member reads all of it.
    /// </summary>
    /// <value>The default is <see langword="null"/>: the consumer group followed by <see cref="DefaultParkingTopicSuffix"/>.</value>
    public string? ParkingTopic { get; set; }

    /// <summary>
    /// Gets or sets how many parked keys a partition keeps in its commit metadata (next to the records finished beyond the
    /// committed offset), so that its next owner parks them too. More keys may be parked: then the partition's commits stay
    /// at the oldest record that parked one of the others until enough keys are released, and its next owner handles the
    /// records from there again (and parks those keys again); the partition itself goes on.
    /// </summary>
    /// <value>The default is 32.</value>
    [OptionRange(1, 100)]
    public int MaxParkedKeysPerPartition { get; set; } = 32;

    /// <summary>
    /// Gets or sets whether missing retry topics, dead-letter topics and the parking topic are created at startup (Admin
    /// API): retry topics with the partitions of their source topic (keeping records their backoff plus 7 days), a
    /// dead-letter topic with one, the parking topic compacted. Off, missing topics are logged (event 2054) and the
    /// consumer starts; a record sent to a missing topic waits, unfinished, until it exists.
    /// </summary>
    /// <value>The default is <see langword="false"/>.</value>
    public bool CreateTopics { get; set; }

    /// <summary>Gets or sets the replication factor of the topics created at startup, or -1 for the brokers' default.</summary>
    /// <value>The default is -1.</value>
    [System.ComponentModel.DataAnnotations.Range(-1, 100, ErrorMessage = "ReplicationFactor must be -1 (the brokers' default) or 1 to 100.")]
    public int ReplicationFactor { get; set; } = -1;

    /// <summary>Gets the backoffs that apply: <see cref="Backoffs"/>, or the defaults when none is set.</summary>
    internal IReadOnlyList<TimeSpan> EffectiveBackoffs => Backoffs.Count > 0 ? Backoffs : DefaultBackoffs;

    /// <summary>
    /// Gets the retry topic of a consumer group's source topic for a backoff: <c>&lt;topic&gt;.retry.&lt;group&gt;.&lt;backoff&gt;</c>
    /// (each group has its own: another group reading the same topic retries its own failures).
    /// </summary>
    /// <param name="groupId">The consumer group.</param>
    /// <param name="sourceTopic">The topic the consumer subscribes to.</param>
    /// <param name="backoff">One of the <see cref="Backoffs"/>.</param>
    /// <returns>The retry topic's name.</returns>
    public static string TopicFor(string groupId, string sourceTopic, TimeSpan backoff) =>
        string.Create(CultureInfo.InvariantCulture, $"{sourceTopic}{TopicInfix}{groupId}.{Delay.Internal.DelayTiers.Name(backoff)}");

    /// <summary>Gets the parking topic of a consumer group: <see cref="ParkingTopic"/>, or the group followed by <see cref="DefaultParkingTopicSuffix"/>.</summary>
    /// <param name="groupId">The consumer group.</param>
    /// <returns>The parking topic's name.</returns>
    public string ParkingTopicFor(string groupId) => ParkingTopic ?? string.Create(CultureInfo.InvariantCulture, $"{groupId}{DefaultParkingTopicSuffix}");
}
