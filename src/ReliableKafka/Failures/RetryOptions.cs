using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Polly;
using ReliableKafka.Configuration.Internal;

namespace ReliableKafka;

/// <summary>
/// In-place retries of a failing handler (<c>ReliableKafka:Consumers:&lt;name&gt;:Retry</c>): the record is tried
/// again, in its lane, after an exponentially growing delay with jitter; later records of the same key wait.
/// </summary>
public sealed class RetryOptions
{
    /// <summary>Gets or sets how many times the handler runs for a record at most, the first time included.</summary>
    /// <value>The default is 3. 1 turns retries off.</value>
    [OptionRange(1, 1000)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Gets or sets the delay before the first retry; each later one doubles it (with jitter).</summary>
    /// <value>The default is 200 milliseconds.</value>
    [OptionRange(1, 86_400_000)]
    public TimeSpan InitialDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Gets or sets the longest delay between two attempts.</summary>
    /// <value>The default is 30 seconds.</value>
    [OptionRange(1, 86_400_000)]
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Gets or sets which exceptions are worth another attempt (code only). A record whose exception is not
    /// transient goes to the <see cref="ConsumerOptions.FailurePolicy"/> at once. Records that cannot be
    /// deserialized are never retried, whatever this says.
    /// </summary>
    /// <value>The default is <see langword="null"/>: <see cref="IsTransientByDefault"/>.</value>
    public Func<Exception, bool>? IsTransient { get; set; }

    /// <summary>
    /// Gets or sets a Polly pipeline to run each attempt through instead of the one these options describe (code
    /// only). It should retry, and it must honour the cancellation token it is given. Its retries are not logged
    /// or counted by ReliableKafka (event 2026, <c>reliablekafka.consumer.retries</c>): report them from the pipeline.
    /// </summary>
    /// <value>The default is <see langword="null"/>: a retry pipeline built from these options.</value>
    public ResiliencePipeline? Pipeline { get; set; }

    /// <summary>
    /// The default <see cref="IsTransient"/>: every exception except those that another attempt cannot fix:
    /// <see cref="ArgumentException"/> (and its subclasses), <see cref="FormatException"/>,
    /// <see cref="InvalidCastException"/>, <see cref="NotSupportedException"/>, <see cref="JsonException"/>,
    /// <see cref="ValidationException"/> and <see cref="MessageDeserializationException"/>.
    /// </summary>
    /// <param name="exception">What the handler threw.</param>
    /// <returns>Whether to try again.</returns>
    public static bool IsTransientByDefault(Exception exception) => exception is not (
        ArgumentException or FormatException or InvalidCastException or NotSupportedException or JsonException
        or ValidationException or MessageDeserializationException);
}
