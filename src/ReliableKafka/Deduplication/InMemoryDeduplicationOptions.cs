using ReliableKafka.Configuration.Internal;

namespace ReliableKafka.Deduplication;

/// <summary>Options of <see cref="InMemoryDeduplicationStore"/> (<c>UseInMemoryDeduplication</c>).</summary>
public sealed class InMemoryDeduplicationOptions : DeduplicationStoreOptions
{
    /// <summary>Initializes a new instance of the <see cref="InMemoryDeduplicationOptions"/> class.</summary>
    public InMemoryDeduplicationOptions() => Retention = TimeSpan.FromHours(1);

    /// <summary>
    /// Gets or sets how many processed ids are remembered at most; beyond it the oldest are forgotten first. Claims
    /// in progress are never forgotten (the consumers' buffers bound them).
    /// </summary>
    /// <value>The default is 100,000 (about 20 MB with ReliableKafka's 32-character message ids).</value>
    [OptionRange(1, int.MaxValue)]
    public int MaxEntries { get; set; } = 100_000;
}
