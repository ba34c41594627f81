using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace ReliableKafka.Diagnostics.Internal;

/// <summary>
/// ReliableKafka's spans, following OpenTelemetry's messaging conventions: a send span per message produced and a process
/// span per record handled, linked through the W3C trace context in the record's headers (the BCL's
/// <see cref="DistributedContextPropagator"/> writes and reads it). Nothing is created (or allocated) while nobody
/// listens, but a caller's current activity still travels in the headers.
/// </summary>
/// <remarks>
/// What an application's ActivityListener or propagator throws is swallowed here: a span is worth less than the record,
/// and an exception would otherwise end a lane or fail a send that succeeded. <see cref="Activity.Current"/> is put back
/// when a start fails (<see cref="Activity.Start"/> sets it before it notifies the listeners).
/// </remarks>
internal static class Tracing
{
    public static readonly ActivitySource Source = new(ReliableKafkaDiagnostics.ActivitySourceName, typeof(Tracing).Assembly.GetName().Version?.ToString());

    /// <summary>
    /// Starts the send span of a message (when someone listens) and writes the trace context of it (or of the caller's
    /// current activity) to the headers, creating them when there are none. Returns the span, or null. The span becomes
    /// <see cref="Activity.Current"/>: the caller puts the previous one back once the message is queued.
    /// </summary>
    public static Activity? StartSend(string topic, string? messageId, ref Headers? headers)
    {
        var activity = Source.HasListeners() ? TryStartSend(topic, messageId) : null;
        if ((activity ?? Activity.Current) is { } context)
        {
            headers ??= [];
            try
            {
                headers.Remove("traceparent");
                headers.Remove("tracestate");
                DistributedContextPropagator.Current.Inject(context, headers, static (state, name, value) => ((Headers)state!).Add(name, Encoding.UTF8.GetBytes(value)));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A propagator of the application's that throws costs the trace, never the message.
            }
        }

        return activity;
    }

    /// <summary>Ends a send span with where the message was written, or why it was not.</summary>
    public static void EndSend(Activity activity, Task<ProduceResult> sent)
    {
        try
        {
            if (sent.IsCompletedSuccessfully)
            {
                var offset = sent.Result.TopicPartitionOffset;
                activity.SetTag("messaging.destination.partition.id", offset.Partition.Value.ToString(CultureInfo.InvariantCulture));
                activity.SetTag("messaging.kafka.offset", offset.Offset.Value);
            }
            else
            {
                var error = sent.Exception?.GetBaseException();
                activity.SetStatus(ActivityStatusCode.Error, error?.Message);
                activity.SetTag("error.type", error is ReliableKafkaProduceException produce ? produce.ErrorCode.ToString() : error?.GetType().FullName ?? "cancelled");
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // See remarks.
        }

        Stop(activity);
    }

    /// <summary>
    /// Starts the process span of a record (when someone listens): a child of the trace context in its headers, or, when
    /// <paramref name="link"/> says so, a span of the current trace (usually a new one) linked to that context.
    /// </summary>
    public static Activity? StartProcess(ConsumeResult<byte[]?, byte[]?> record, string groupId, Func<ConsumeResult<byte[]?, byte[]?>, bool> link) =>
        Source.HasListeners() ? TryStartProcess(record, groupId, link) : null;

    /// <summary>Ends a span (an application's listener that throws on stop is not the record's failure).</summary>
    public static void Stop(Activity? activity)
    {
        if (activity is null)
        {
            return;
        }

        try
        {
            activity.Dispose();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // See remarks.
        }
    }

    /// <summary>Marks a process span failed (a record that failed for good, whatever its failure policy then does); returns the error type.</summary>
    public static string Failed(Activity? activity, Exception error)
    {
        var type = error.GetType().FullName ?? error.GetType().Name;
        if (activity is not null)
        {
            try
            {
                activity.SetStatus(ActivityStatusCode.Error, error.Message);
                activity.SetTag("error.type", type);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // See remarks.
            }
        }

        return type;
    }

    /// <summary>
    /// Starts the send span of a copy of a record (a dead-letter write, a retry, a delay tier's forward, a redrive), when
    /// someone listens: a child of the current activity (the process span that failed, say), linked to the context the
    /// copy carries. The copy's headers keep that context untouched, so the trace goes on with the record. The caller's
    /// current activity stays what it was (the span ends in <see cref="EndCopyAsync"/>, elsewhere).
    /// </summary>
    public static Activity? StartCopy(string topic, Headers? headers, string reason) =>
        Source.HasListeners() ? TryStartCopy(topic, headers, reason) : null;

    /// <summary>Ends a copy's send span with where the copy was written, or why it was not; the send's own result is returned unchanged.</summary>
    public static async Task<T> EndCopyAsync<T>(Activity? activity, Task<T> sent, Func<T, TopicPartitionOffset> written)
    {
        if (activity is null)
        {
            return await sent.ConfigureAwait(false);
        }

        T result;
        try
        {
            result = await sent.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            try
            {
                activity.SetStatus(ActivityStatusCode.Error, e.Message);
                activity.SetTag("error.type", e is KafkaException k ? k.Error.Code.ToString() : e.GetType().FullName);
            }
            catch (Exception telemetry) when (telemetry is not OutOfMemoryException)
            {
                // See remarks.
            }

            Stop(activity);
            throw;
        }

        try
        {
            var offset = written(result);
            activity.SetTag("messaging.destination.partition.id", offset.Partition.Value.ToString(CultureInfo.InvariantCulture));
            activity.SetTag("messaging.kafka.offset", offset.Offset.Value);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // See remarks.
        }

        Stop(activity);
        return result;
    }

    private static Activity? TryStartSend(string topic, string? messageId)
    {
        var current = Activity.Current;
        try
        {
            var activity = Source.StartActivity($"{topic} send", ActivityKind.Producer);
            if (activity is { IsAllDataRequested: true })
            {
                activity.SetTag("messaging.system", "kafka");
                activity.SetTag("messaging.operation.type", "send");
                activity.SetTag("messaging.operation.name", "send");
                activity.SetTag("messaging.destination.name", topic);
                if (messageId is not null)
                {
                    activity.SetTag("messaging.message.id", messageId);
                }
            }

            return activity;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Activity.Current = current;
            return null;
        }
    }

    private static Activity? TryStartProcess(ConsumeResult<byte[]?, byte[]?> record, string groupId, Func<ConsumeResult<byte[]?, byte[]?>, bool> link)
    {
        var current = Activity.Current;
        try
        {
            var headers = record.Message.Headers;
            var context = Extract(headers);
            var activity = link(record)
                ? Source.StartActivity(ActivityKind.Consumer, default, tags: null, links: context is { } linked ? [new ActivityLink(linked)] : null, name: $"{record.Topic} process")
                : Source.StartActivity($"{record.Topic} process", ActivityKind.Consumer, context ?? default);
            if (activity is { IsAllDataRequested: true })
            {
                activity.SetTag("messaging.system", "kafka");
                activity.SetTag("messaging.operation.type", "process");
                activity.SetTag("messaging.operation.name", "process");
                activity.SetTag("messaging.destination.name", record.Topic);
                activity.SetTag("messaging.destination.partition.id", record.Partition.Value.ToString(CultureInfo.InvariantCulture));
                activity.SetTag("messaging.kafka.offset", record.Offset.Value);
                activity.SetTag("messaging.consumer.group.name", groupId);
                if (Producing.Internal.MessageIds.Read(headers) is { } id)
                {
                    activity.SetTag("messaging.message.id", id);
                }
            }

            return activity;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Activity.Current = current;
            return null;
        }
    }

    private static Activity? TryStartCopy(string topic, Headers? headers, string reason)
    {
        var current = Activity.Current;
        try
        {
            var context = Extract(headers);
            var activity = Source.StartActivity(ActivityKind.Producer, default, tags: null, links: context is { } linked ? [new ActivityLink(linked)] : null, name: $"{topic} send");
            if (activity is { IsAllDataRequested: true })
            {
                activity.SetTag("messaging.system", "kafka");
                activity.SetTag("messaging.operation.type", "send");
                activity.SetTag("messaging.operation.name", "send");
                activity.SetTag("messaging.destination.name", topic);
                activity.SetTag("reliablekafka.send.reason", reason);
            }

            return activity;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null;
        }
        finally
        {
            Activity.Current = current;
        }
    }

    /// <summary>The W3C trace context in a record's headers (through the BCL's propagator), or null.</summary>
    private static ActivityContext? Extract(Headers? headers)
    {
        if (headers is null)
        {
            return null;
        }

        DistributedContextPropagator.Current.ExtractTraceIdAndState(headers, static (state, name, out value, out values) =>
        {
            values = null;
            value = state is Headers h && h.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;
        }, out var traceParent, out var traceState);
        return ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var context) ? context : null;
    }
}
