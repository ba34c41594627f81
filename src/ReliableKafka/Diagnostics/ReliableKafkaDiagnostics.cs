namespace ReliableKafka;

/// <summary>The names under which ReliableKafka reports traces and metrics (add them to OpenTelemetry's tracer and meter providers).</summary>
public static class ReliableKafkaDiagnostics
{
    /// <summary>
    /// The <see cref="System.Diagnostics.ActivitySource"/> of ReliableKafka's spans: <c>&lt;topic&gt; send</c> (Producer kind)
    /// for each message produced, with the W3C <c>traceparent</c> and <c>tracestate</c> written to its headers, and
    /// <c>&lt;topic&gt; process</c> (Consumer kind) for each record a consumer handles, a child of the context its headers carry.
    /// </summary>
    public const string ActivitySourceName = "ReliableKafka";

    /// <summary>The <see cref="System.Diagnostics.Metrics.Meter"/> of ReliableKafka's instruments.</summary>
    public const string MeterName = "ReliableKafka";
}
