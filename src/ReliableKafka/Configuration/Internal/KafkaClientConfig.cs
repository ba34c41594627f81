namespace ReliableKafka.Configuration.Internal;

/// <summary>The librdkafka settings of one client, assembled from options and the guarantee's preset.</summary>
internal sealed class KafkaClientConfig
{
    /// <summary>Gets the options path of the client, e.g. <c>ReliableKafka:Consumers:orders</c>.</summary>
    public required string Path { get; init; }

    /// <summary>Gets the client's name.</summary>
    public required string Name { get; init; }

    /// <summary>Gets the name of the cluster the client connects to, or null for the default cluster.</summary>
    public string? Cluster { get; init; }

    /// <summary>Gets the guarantee the client runs under.</summary>
    public required DeliveryGuarantee Guarantee { get; init; }

    /// <summary>Gets the librdkafka settings (canonical key names).</summary>
    public required IReadOnlyDictionary<string, string> Values { get; init; }

    /// <summary>Gets the configuration errors; the client must not be created when there are any.</summary>
    public required IReadOnlyList<string> Errors { get; init; }

    /// <summary>Throws when the configuration has errors (the host validates at startup, so this is a backstop).</summary>
    public KafkaClientConfig ThrowIfInvalid()
    {
        if (Errors.Count > 0)
        {
            throw new Microsoft.Extensions.Options.OptionsValidationException(Path, typeof(ReliableKafkaOptions), Errors);
        }

        return this;
    }

    /// <summary>Renders the settings for a log line, secrets redacted.</summary>
    public override string ToString() => KafkaConfigKeys.DescribeAll(Values);
}
