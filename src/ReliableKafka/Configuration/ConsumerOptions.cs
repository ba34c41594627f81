using System.ComponentModel.DataAnnotations;
using Confluent.Kafka;
using ReliableKafka.Configuration.Internal;

namespace ReliableKafka;

/// <summary>Settings of one named consumer (<c>ReliableKafka:Consumers:&lt;name&gt;</c>).</summary>
public sealed class ConsumerOptions
{
    /// <summary>Gets or sets the consumer group id (group.id). Required.</summary>
    /// <value>The default is <see langword="null"/>, which fails validation.</value>
    [Required(AllowEmptyStrings = false, ErrorMessage = "GroupId must be set.")]
    public string? GroupId { get; set; }

    /// <summary>
    /// Gets the topics to subscribe to. A name starting with <c>^</c> is a regular expression that subscribes
    /// to every matching topic. At least one is required.
    /// </summary>
    /// <value>The default is empty, which fails validation.</value>
    public List<string> Topics { get; } = [];

    /// <summary>Gets or sets this consumer's guarantee.</summary>
    /// <value>The default is <see langword="null"/>: <see cref="ReliableKafkaOptions.DeliveryGuarantee"/>.</value>
    public DeliveryGuarantee? DeliveryGuarantee { get; set; }

    /// <summary>Gets or sets where a group with no committed offset for a partition starts reading (auto.offset.reset).</summary>
    /// <value>
    /// The default is <see cref="Confluent.Kafka.AutoOffsetReset.Earliest"/>, so a new group misses nothing (librdkafka's
    /// own default is latest).
    /// </value>
    public AutoOffsetReset AutoOffsetReset { get; set; } = AutoOffsetReset.Earliest;

    /// <summary>
    /// Gets or sets how long the group waits for a heartbeat before it removes a member that crashed and gives
    /// its partitions to others (session.timeout.ms).
    /// </summary>
    /// <value>The default is 45 seconds (librdkafka's default).</value>
    [OptionRange(1, 3_600_000)]
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>Gets or sets how often the consumer heartbeats to the group (heartbeat.interval.ms); at most a third of <see cref="SessionTimeout"/>.</summary>
    /// <value>The default is 3 seconds (librdkafka's default).</value>
    [OptionRange(1, 3_600_000)]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Gets or sets the longest time between two polls before the member is considered stuck and leaves the
    /// group (max.poll.interval.ms). Polling continues while handlers run, so only a stuck poll loop trips it.
    /// </summary>
    /// <value>The default is 5 minutes (librdkafka's default).</value>
    [OptionRange(1, 86_400_000)]
    public TimeSpan MaxPollInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets the least data a fetch response waits for, in bytes (fetch.min.bytes).</summary>
    /// <value>The default is 1 byte (librdkafka's default).</value>
    [OptionRange(1, 100_000_000)]
    public int FetchMinBytes { get; set; } = 1;

    /// <summary>Gets or sets the most data a fetch response may hold, in bytes (fetch.max.bytes).</summary>
    /// <value>The default is 52428800 bytes (librdkafka's default).</value>
    [OptionRange(0, 2_147_483_135)]
    public int FetchMaxBytes { get; set; } = 52_428_800;

    /// <summary>Gets or sets the most data per partition a fetch response may hold, in bytes (max.partition.fetch.bytes).</summary>
    /// <value>The default is 1048576 bytes (librdkafka's default).</value>
    [OptionRange(1, 1_000_000_000)]
    public int MaxPartitionFetchBytes { get; set; } = 1_048_576;

    /// <summary>Gets or sets how long a broker may hold a fetch request waiting for <see cref="FetchMinBytes"/> (fetch.wait.max.ms).</summary>
    /// <value>The default is 500 ms (librdkafka's default).</value>
    [OptionRange(0, 300_000)]
    public TimeSpan FetchWaitMax { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Gets or sets how often finished records' offsets are committed. Offsets are also committed when
    /// partitions are revoked and on graceful shutdown. A crash redelivers what finished since the last commit.
    /// </summary>
    /// <value>The default is 5 seconds.</value>
    [OptionRange(10, 86_400_000)]
    public TimeSpan CommitInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets how long a graceful shutdown waits for running handlers before it cancels them and commits
    /// what finished. Keep the host's shutdown timeout (HostOptions.ShutdownTimeout, 30 seconds by default) longer.
    /// </summary>
    /// <value>The default is 15 seconds.</value>
    [OptionRange(0, 3_600_000)]
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Gets or sets how long, when partitions are taken away in a rebalance, their running handlers may take to
    /// finish before they are cancelled and their results abandoned (another member then processes those
    /// records again). Must be shorter than <see cref="MaxPollInterval"/>.
    /// </summary>
    /// <value>The default is 10 seconds.</value>
    [OptionRange(0, 3_600_000)]
    public TimeSpan RevocationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets which records may be handled at the same time.</summary>
    /// <value>The default is <see cref="ReliableKafka.OrderingMode.Key"/>: one at a time per key, in offset order.</value>
    public OrderingMode OrderingMode { get; set; } = OrderingMode.Key;

    /// <summary>Gets or sets how many handlers may run at once across all partitions of this consumer.</summary>
    /// <value>The default is 16.</value>
    [OptionRange(1, 10_000)]
    public int MaxConcurrency { get; set; } = 16;

    /// <summary>
    /// Gets or sets how many fetched records may wait or run at once; memory stays bounded by it however large the
    /// backlog. When the limit is reached the consumer stops taking records (up to 250 ms, keeping what librdkafka
    /// fetched ahead); if the handlers have not caught up by then, it pauses partitions (it stays in the group)
    /// and shares the buffer fairly: each partition takes at most its share (the limit divided by the assigned
    /// partitions) and resumes, right where it stopped, when down to half of it. A record is never skipped.
    /// </summary>
    /// <value>The default is 1000.</value>
    [OptionRange(1, 10_000_000)]
    public int MaxBufferedRecords { get; set; } = 1000;

    /// <summary>Gets the in-place retries of a failing handler (AtLeastOnce; under AtMostOnce a failure is logged and not retried).</summary>
    public RetryOptions Retry { get; } = new();

    /// <summary>
    /// Gets or sets whether the span of each record handled (<c>&lt;topic&gt; process</c>, on the
    /// <see cref="ReliableKafkaDiagnostics.ActivitySourceName"/> source) is a child of the trace context in the record's
    /// headers, or links to it from a trace of its own.
    /// </summary>
    /// <value>The default is <see cref="TraceContextUse.Parent"/>: producer and consumer share one trace.</value>
    public TraceContextUse TraceContext { get; set; } = TraceContextUse.Parent;

    /// <summary>Gets or sets what happens to a record that still fails after its retries, or cannot be deserialized (AtLeastOnce).</summary>
    /// <value>The default is <see cref="ReliableKafka.FailurePolicy.DeadLetter"/>.</value>
    public FailurePolicy FailurePolicy { get; set; } = FailurePolicy.DeadLetter;

    /// <summary>Gets where and how failed records are dead-lettered (<see cref="ReliableKafka.FailurePolicy.DeadLetter"/>, and after the last retry topic).</summary>
    public DeadLetterOptions DeadLetter { get; } = new();

    /// <summary>Gets the retry topics of <see cref="ReliableKafka.FailurePolicy.RetryTopic"/>: their backoffs and whether failing keys park.</summary>
    public RetryTopicOptions RetryTopic { get; } = new();

    /// <summary>Gets how this consumer uses the deduplication store (the idempotent consumer), when one was added.</summary>
    public DeduplicationOptions Deduplication { get; } = new();

    /// <summary>Gets or sets how partitions are spread over the group's members (partition.assignment.strategy).</summary>
    /// <value>
    /// The default is <see cref="Confluent.Kafka.PartitionAssignmentStrategy.CooperativeSticky"/>: a rebalance moves only the
    /// partitions that change owner, and the others keep processing.
    /// </value>
    public PartitionAssignmentStrategy PartitionAssignmentStrategy { get; set; } = PartitionAssignmentStrategy.CooperativeSticky;

    /// <summary>
    /// Gets or sets the name of the cluster this consumer connects to, one of <see cref="ReliableKafkaOptions.Clusters"/>. Its dead-letter producer and look-up connect there too.
    /// A name that is not configured there is a startup error.
    /// </summary>
    /// <value>The default is <see langword="null"/>: the default cluster (<see cref="ReliableKafkaOptions.BootstrapServers"/>).</value>
    public string? Cluster { get; set; }

    /// <summary>Gets or sets the client id sent to brokers (client.id).</summary>
    /// <value>The default is <see langword="null"/>: <see cref="ReliableKafkaOptions.ClientId"/> (or <c>reliablekafka</c>) followed by <c>-</c> and the consumer's name.</value>
    public string? ClientId { get; set; }

    /// <summary>Gets raw librdkafka settings for this consumer; they override <see cref="ReliableKafkaOptions.Config"/>.</summary>
    /// <value>The default is empty.</value>
    public Dictionary<string, string> Config { get; } = new(StringComparer.Ordinal);
}
