using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace ReliableKafka.Diagnostics.Internal;

/// <summary>
/// ReliableKafka's spans, following OpenTelemetry's messaging conventions: a send span per message produced and a process
/// span per record handled, linked through the W3C trace context in the record's headers (the BCL's
/// <see cref="DistributedContextPropagator"/> writes and reads it). Nothing is created while nobody listens, but a
/// caller's current activity still travels in the headers.
/// </summary>
internal static class Tracing
{
    public static readonly ActivitySource Source = new(ReliableKafkaDiagnostics.ActivitySourceName, typeof(Tracing).Assembly.GetName().Version?.ToString());

    /// <summary>
    /// Starts the send span of a message (when someone listens) and writes the trace context of it (or of the caller's
    /// current activity) to the headers, creating them when there are none. Returns the span, or null.
    /// </summary>
    public static Activity? StartSend(string topic, string? messageId, ref Headers? headers)
    {
        var activity = Source.HasListeners() ? Source.StartActivity($"{topic} send", ActivityKind.Producer) : null;
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

        if ((activity ?? Activity.Current) is { } context)
        {
            headers ??= [];
            var carrier = headers;
            carrier.Remove("traceparent");
            carrier.Remove("tracestate");
            DistributedContextPropagator.Current.Inject(context, carrier, static (state, name, value) => ((Headers)state!).Add(name, Encoding.UTF8.GetBytes(value)));
        }

        return activity;
    }

    /// <summary>Ends a send span with where the message was written, or why it was not.</summary>
    public static void EndSend(Activity activity, Task<ProduceResult> sent)
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

        activity.Dispose();
    }

    /// <summary>Starts the process span of a record (when someone listens), a child of the trace context in its headers.</summary>
    public static Activity? StartProcess(ConsumeResult<byte[]?, byte[]?> record, string groupId)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var headers = record.Message.Headers;
        DistributedContextPropagator.Current.ExtractTraceIdAndState(headers, static (state, name, out value, out values) =>
        {
            values = null;
            value = state is Headers h && h.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;
        }, out var traceParent, out var traceState);
        ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent);
        var activity = Source.StartActivity($"{record.Topic} process", ActivityKind.Consumer, parent);
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

    /// <summary>Marks a process span failed (a record that failed for good, whatever its failure policy then does).</summary>
    public static void Failed(Activity? activity, Exception error)
    {
        if (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, error.Message);
            activity.SetTag("error.type", error.GetType().FullName);
        }
    }
}
