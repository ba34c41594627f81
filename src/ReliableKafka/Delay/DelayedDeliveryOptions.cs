using System.ComponentModel.DataAnnotations;
using ReliableKafka.Configuration.Internal;

namespace ReliableKafka;

/// <summary>
/// Delayed and scheduled messages on Kafka alone (<c>ReliableKafka:DelayedDelivery</c>), used once
/// <c>AddDelayedDelivery</c> was called: a message scheduled with <see cref="IMessageScheduler{TKey, TValue}"/> goes to the
/// delay tier topic of the largest tier not longer than its delay, and a forwarder moves it down tier by tier until it is
/// due, then to its target topic.
/// </summary>
public sealed class DelayedDeliveryOptions
{
    /// <summary>Gets or sets the prefix of the delay topics: <c>&lt;prefix&gt;.delay.30s</c>, <c>&lt;prefix&gt;.delay.cancelled</c>, <c>&lt;prefix&gt;.delay.dlt</c>.</summary>
    /// <value>The default is <c>reliablekafka</c>.</value>
    [Required(AllowEmptyStrings = false, ErrorMessage = "TopicPrefix must be set.")]
    public string TopicPrefix { get; set; } = "reliablekafka";

    /// <summary>
    /// Gets the tiers: how long a record waits in each delay topic, shortest first (each from 100 ms to 7 days). A message waits in the largest tier
    /// not longer than its remaining delay (in the shortest one when its delay is shorter than that), then in smaller ones.
    /// The shortest tier bounds how late a message shorter than it can be; the number of tiers, how many hops a long
    /// delay takes.
    /// </summary>
    /// <value>The default is 1 s, 5 s, 30 s, 1 min, 5 min, 30 min, 1 h, 2 h, 6 h and 24 h (when none is set).</value>
    public List<TimeSpan> Tiers { get; } = [];

    /// <summary>
    /// Gets or sets whether this process runs the forwarder (a consumer of every tier topic that moves due records on).
    /// Turn it off in a process that only schedules.
    /// </summary>
    /// <value>The default is <see langword="true"/>.</value>
    public bool Forward { get; set; } = true;

    /// <summary>
    /// Gets or sets whether missing delay topics are created at startup (Admin API), with <see cref="Partitions"/> and
    /// <see cref="ReplicationFactor"/>. Off, a missing topic is a startup error that names it.
    /// </summary>
    /// <value>The default is <see langword="false"/>.</value>
    public bool CreateTopics { get; set; }

    /// <summary>Gets or sets the number of partitions of the delay topics created at startup.</summary>
    /// <value>The default is 6.</value>
    [OptionRange(1, 10_000)]
    public int Partitions { get; set; } = 6;

    /// <summary>Gets or sets the replication factor of the delay topics created at startup, or -1 for the brokers' default.</summary>
    /// <value>The default is -1.</value>
    [Range(-1, 100, ErrorMessage = "ReplicationFactor must be -1 (the brokers' default) or 1 to 100.")]
    public int ReplicationFactor { get; set; } = -1;

    /// <summary>
    /// Gets or sets how long before its due time a cancellation must be recorded to be sure to stop a message. A later
    /// one is still recorded (it stops the message if it was not forwarded yet), but <c>CancelAsync</c> says
    /// <see cref="ScheduleCancellation.TooLate"/>: the message may have been delivered. Half of it covers the cancelling
    /// process's clock being behind the forwarders'. Every process of an application must use the same margin.
    /// </summary>
    /// <value>The default is 2 seconds.</value>
    [OptionRange(0, 3_600_000)]
    public TimeSpan CancellationMargin { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Gets or sets how long after its due time a cancellation is remembered by the forwarders (bounding their memory);
    /// then they write a tombstone for it to the compacted cancellation topic. A cancelled message forwarded later than
    /// that (a forwarder backlog of that length) would be delivered. Every process of an application must use the same value.
    /// </summary>
    /// <value>The default is 7 days.</value>
    [OptionRange(1_000, 365L * 86_400_000)]
    public TimeSpan CancellationRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Gets or sets the cluster of the delay topics and of every target topic (one of <see cref="ReliableKafkaOptions.Clusters"/>).</summary>
    /// <value>The default is <see langword="null"/>: the default cluster.</value>
    public string? Cluster { get; set; }

    /// <summary>
    /// Gets the forwarder's consumer settings (group, timeouts, concurrency, retries, dead-letter topic). Its
    /// <c>Topics</c> are the tier topics and must not be set; its <c>Cluster</c> is <see cref="Cluster"/>.
    /// </summary>
    /// <value>
    /// The defaults of <see cref="ConsumerOptions"/>, except: the group <c>&lt;prefix&gt;.delay-forwarder</c>, the dead-letter
    /// topic <c>&lt;prefix&gt;.delay.dlt</c> (for records whose delay headers cannot be read), 100 attempts for a record
    /// whose forwarding fails (a broker that does not answer is waited for rather than dead-lettered), a
    /// <see cref="ConsumerOptions.FetchWaitMax"/> of 50 ms (a partition that resumes when its head record is due is fetched
    /// without waiting for a long poll of the others to end; keep it well under the shortest tier), and a
    /// <see cref="ConsumerOptions.MaxConcurrency"/> of 512 with <see cref="ConsumerOptions.MaxBufferedRecords"/> 4096 (each
    /// record's work is waiting for an acknowledgement, and a message takes several hops).
    /// </value>
    public ConsumerOptions Forwarder { get; } = new()
    {
        Retry = { MaxAttempts = 100 },
        FetchWaitMax = TimeSpan.FromMilliseconds(50),
        MaxConcurrency = 512,
        MaxBufferedRecords = 4096,
    };

    /// <summary>The tiers that apply: <see cref="Tiers"/>, or the defaults when none is set.</summary>
    internal IReadOnlyList<TimeSpan> EffectiveTiers => Tiers.Count > 0 ? Tiers : DefaultTiers;

    internal static readonly TimeSpan[] DefaultTiers =
    [
        TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5),
        TimeSpan.FromMinutes(30), TimeSpan.FromHours(1), TimeSpan.FromHours(2), TimeSpan.FromHours(6), TimeSpan.FromHours(24),
    ];

    /// <summary>Gets the delay topic of a tier, e.g. <c>reliablekafka.delay.30s</c>.</summary>
    /// <param name="tier">One of the tiers.</param>
    /// <returns>The topic's name.</returns>
    public string TierTopic(TimeSpan tier) => $"{TopicPrefix}.delay.{Delay.Internal.DelayTiers.Name(tier)}";

    /// <summary>Gets the compacted topic that holds cancellations: <c>&lt;prefix&gt;.delay.cancelled</c>.</summary>
    public string CancellationTopic => $"{TopicPrefix}.delay.cancelled";

    /// <summary>Gets the forwarder's dead-letter topic (<see cref="ConsumerOptions.DeadLetter"/>, by default <c>&lt;prefix&gt;.delay.dlt</c>).</summary>
    public string DeadLetterTopic => Forwarder.DeadLetter.Topic ?? $"{TopicPrefix}.delay.dlt";

    /// <summary>Gets every topic the delayed delivery needs: the tier topics, the cancellation topic and the dead-letter topic.</summary>
    /// <returns>The topic names.</returns>
    public IReadOnlyList<string> RequiredTopics() => [.. EffectiveTiers.Select(TierTopic), CancellationTopic, DeadLetterTopic];
}
