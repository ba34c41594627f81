using ReliableKafka.Configuration.Internal;

namespace ReliableKafka;

/// <summary>Where and how failed records are dead-lettered (<c>ReliableKafka:Consumers:&lt;name&gt;:DeadLetter</c>).</summary>
public sealed class DeadLetterOptions
{
    /// <summary>The suffix of the default dead-letter topic: a record of <c>orders</c> goes to <c>orders.dlt</c>.</summary>
    public const string DefaultTopicSuffix = ".dlt";

    /// <summary>
    /// Gets or sets the dead-letter topic for every source topic of the consumer. It must differ from them, and
    /// must be set when a topic is subscribed by regular expression (which could match the default names).
    /// </summary>
    /// <value>The default is <see langword="null"/>: the record's topic followed by <see cref="DefaultTopicSuffix"/>.</value>
    public string? Topic { get; set; }

    /// <summary>Gets or sets how many characters of the exception message go into the dead-letter record's header.</summary>
    /// <value>The default is 1000.</value>
    [OptionRange(16, 100_000)]
    public int MaxErrorMessageLength { get; set; } = 1000;

    /// <summary>
    /// Gets or sets how long one write to the dead-letter topic may take, retries included (its producer's
    /// message.timeout.ms). A write that fails is tried again, with growing pauses up to 30 seconds, until it
    /// succeeds; the record stays unfinished meanwhile, so its offset is not committed.
    /// </summary>
    /// <value>The default is 30 seconds.</value>
    [OptionRange(100, 3_600_000)]
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets the dead-letter topic for a record of <paramref name="sourceTopic"/>.</summary>
    /// <param name="sourceTopic">The record's topic.</param>
    /// <returns>The topic to write the record to.</returns>
    public string TopicFor(string sourceTopic) => Topic ?? sourceTopic + DefaultTopicSuffix;
}
