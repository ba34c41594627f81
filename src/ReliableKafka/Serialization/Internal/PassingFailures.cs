using System.Net;
using System.Net.Sockets;

namespace ReliableKafka.Serialization.Internal;

/// <summary>
/// Tells a serializer's failure that may pass (a schema registry that cannot be reached, or answers "try later") from
/// one that another try cannot fix (bad bytes, an unknown schema, a registry that refuses the request).
/// </summary>
internal static class PassingFailures
{
    /// <summary>
    /// True when the exception, or one it wraps, says something could not be reached: a <see cref="SocketException"/>,
    /// a <see cref="TimeoutException"/>, an <see cref="OperationCanceledException"/> of the serializer's own, an
    /// <see cref="HttpIOException"/>, or an <see cref="HttpRequestException"/> without a status or with a 5xx, 408 or 429
    /// status. An HTTP error with another 4xx status (Schema Registry's "schema not found", say) is final, and so is
    /// everything else (parser errors included, whatever their base class).
    /// </summary>
    public static bool IsPassing(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case HttpRequestException http:
                    return StatusOf(http) is not { } status || (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;
                case SocketException or TimeoutException or OperationCanceledException or HttpIOException:
                    return true;
                case AggregateException aggregate:
                    return aggregate.InnerExceptions.Any(IsPassing);
                default:
                    break;
            }
        }

        return false;
    }

    /// <summary>
    /// The HTTP status of a failed request: <see cref="HttpRequestException.StatusCode"/>, or the <c>Status</c> property that
    /// exceptions deriving from it carry instead (Confluent's SchemaRegistryException), or null when none was received.
    /// </summary>
    private static HttpStatusCode? StatusOf(HttpRequestException exception) =>
        exception.StatusCode
        ?? (exception.GetType().GetProperty("Status")?.GetValue(exception) is HttpStatusCode status && status != 0 ? status : null);
}
