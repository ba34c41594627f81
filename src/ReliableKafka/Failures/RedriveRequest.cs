using Confluent.Kafka;

namespace ReliableKafka;

/// <summary>Which dead-lettered records <see cref="IDeadLetterRedriver"/> sends back, and where.</summary>
public sealed class RedriveRequest
{
    /// <summary>Gets the dead-letter topic to read.</summary>
    public required string DeadLetterTopic { get; init; }

    /// <summary>Gets the original topic records must come from (header <see cref="ReliableKafkaHeaders.DeadLetterOriginalTopic"/>), or <see langword="null"/> for any.</summary>
    public string? OriginalTopic { get; init; }

    /// <summary>Gets the earliest failure time (header <see cref="ReliableKafkaHeaders.DeadLetterFailedAt"/>) of records to send, or <see langword="null"/>.</summary>
    public DateTimeOffset? FailedFrom { get; init; }

    /// <summary>Gets the time (exclusive) before which records must have failed to be sent, or <see langword="null"/>.</summary>
    public DateTimeOffset? FailedBefore { get; init; }

    /// <summary>Gets a further condition on a record's headers, or <see langword="null"/>.</summary>
    public Func<Headers, bool>? Filter { get; init; }

    /// <summary>Gets the topic to send the records to, or <see langword="null"/> for each record's original topic.</summary>
    public string? TargetTopic { get; init; }

    /// <summary>
    /// Gets the consumer group that remembers how far redrives have read the dead-letter topic. Records that a
    /// request's filters excluded are passed over for this group too: redrive them later with another group.
    /// </summary>
    /// <value>The default is <see langword="null"/>: <c>reliablekafka-redrive-</c> followed by the dead-letter topic.</value>
    public string? GroupId { get; init; }

    /// <summary>Gets the name of the cluster (one of <see cref="ReliableKafkaOptions.Clusters"/>) that holds the dead-letter topic and the target.</summary>
    /// <value>The default is <see langword="null"/>: the default cluster.</value>
    public string? Cluster { get; init; }

    /// <summary>Gets how many records are sent before waiting for their acknowledgements and committing the read position.</summary>
    /// <value>The default is 500.</value>
    public int BatchSize { get; init; } = 500;

    internal string EffectiveGroupId => GroupId ?? $"reliablekafka-redrive-{DeadLetterTopic}";
}
