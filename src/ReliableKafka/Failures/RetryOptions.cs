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
    /// Gets or sets which exceptions of a handler are worth another attempt (code only). A record whose exception is
    /// not transient goes to the <see cref="ConsumerOptions.FailurePolicy"/> at once. Records that cannot be
    /// deserialized are not handler attempts (see <see cref="IsTransientDeserializationFailure"/>).
    /// </summary>
    /// <value>The default is <see langword="null"/>: <see cref="IsTransientByDefault"/>.</value>
    public Func<Exception, bool>? IsTransient { get; set; }

    /// <summary>
    /// Gets or sets which failures of an asynchronous deserializer (an <c>IAsyncDeserializer</c>, e.g. Schema Registry's)
    /// may pass, so that the record waits and is deserialized again (with growing pauses, reported by the health check
    /// and event 2047) instead of going to the <see cref="ConsumerOptions.FailurePolicy"/> (code only). It is given the
    /// deserializer's exception. A synchronous deserializer's failure is always final.
    /// </summary>
    /// <value>The default is <see langword="null"/>: <see cref="IsTransientDeserializationFailureByDefault"/>.</value>
    public Func<Exception, bool>? IsTransientDeserializationFailure { get; set; }

    /// <summary>
    /// Gets or sets a Polly pipeline to run each attempt through instead of the one these options describe (code
    /// only). It should retry, and it must honour the cancellation token it is given. It should not retry a
    /// <see cref="Deduplication.HandlerTransactionException"/> whose <c>IsRetriable</c> is false. Its retries are not logged
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

    /// <summary>
    /// The default <see cref="IsTransientDeserializationFailure"/>: true when the exception, or one it wraps, says the
    /// deserializer could not reach something: a <see cref="System.Net.Sockets.SocketException"/>, a
    /// <see cref="TimeoutException"/>, an <see cref="OperationCanceledException"/> of its own, an
    /// <see cref="System.Net.Http.HttpIOException"/>, or an <see cref="System.Net.Http.HttpRequestException"/> (Schema
    /// Registry's errors derive from it) without a status or with a 5xx, 408 or 429 status. Another 4xx status (an unknown
    /// schema id, say) and everything else (parser errors included) are final: the record is poison.
    /// </summary>
    /// <param name="exception">What the deserializer threw.</param>
    /// <returns>Whether to wait and deserialize again.</returns>
    public static bool IsTransientDeserializationFailureByDefault(Exception exception) =>
        Serialization.Internal.PassingFailures.IsPassing(exception);
}
