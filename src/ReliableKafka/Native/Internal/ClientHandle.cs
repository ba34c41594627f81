using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace ReliableKafka.Native.Internal;

/// <summary>
/// The librdkafka handle (<c>rd_kafka_t*</c>) of a Confluent.Kafka client, for the few calls Confluent.Kafka does not
/// expose. Confluent.Kafka keeps it in a non-public property of its <see cref="Handle"/>; a startup check fails loudly
/// if a Confluent.Kafka version moves it. The handle is reference-counted for the duration of each use, so a
/// concurrent dispose cannot free it underneath.
/// </summary>
internal static class ClientHandle
{
    private static readonly PropertyInfo HandleProperty =
        typeof(Handle).GetProperty("LibrdkafkaHandle", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException(
            "Confluent.Kafka's Handle has no LibrdkafkaHandle property: this Confluent.Kafka version is not supported by ReliableKafka.");

    /// <summary>Gets the client's safe handle (for callers that hold a reference for longer than one call).</summary>
    public static SafeHandle Of(IClient client) =>
        (SafeHandle)(HandleProperty.GetValue(client.Handle) ?? throw new InvalidOperationException("The client has no librdkafka handle."));

    /// <summary>Runs <paramref name="use"/> with the client's <c>rd_kafka_t*</c>, holding a reference on it meanwhile.</summary>
    public static void Use(IClient client, Action<IntPtr> use)
    {
        var handle = Of(client);
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            use(handle.DangerousGetHandle());
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }
}
