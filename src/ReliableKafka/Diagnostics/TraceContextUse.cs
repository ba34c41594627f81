namespace ReliableKafka;

/// <summary>
/// How a consumer's process span relates to the trace context a record carries in its headers (the W3C
/// <c>traceparent</c> written when it was produced): as its parent, so producer and consumer share one trace, or as a
/// link from a trace of its own, for records handled long after they were sent (scheduled messages, retries), whose
/// traces would otherwise span hours.
/// </summary>
public enum TraceContextUse
{
    /// <summary>The default: the process span is a child of the record's context (one trace from producer to consumer).</summary>
    Parent = 0,

    /// <summary>Every process span starts a trace of its own (or continues the handler's surrounding activity) and links to the record's context.</summary>
    Link = 1,

    /// <summary>
    /// Records read from retry topics (<see cref="FailurePolicy.RetryTopic"/>) get a trace of their own linked to the
    /// record's context; the first attempt of a record is a child of it, as with <see cref="Parent"/>.
    /// </summary>
    LinkRetries = 2,
}
