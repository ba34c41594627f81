using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace ReliableKafka.Native.Internal;

/// <summary>
/// The librdkafka handle (<c>rd_kafka_t*</c>) of a Confluent.Kafka client, for the few calls Confluent.Kafka does not
/// expose. Confluent.Kafka keeps it in a non-public property of its <see cref="Handle"/>; the options validation at
/// startup reports <see cref="Unsupported"/> when a Confluent.Kafka version moved it. The handle is reference-counted for
/// the duration of each use, so a concurrent dispose cannot free it underneath.
/// </summary>
internal static class ClientHandle
{
    private const string PropertyName = "LibrdkafkaHandle";

    private static readonly PropertyInfo? HandleProperty = typeof(Handle).GetProperty(PropertyName, BindingFlags.Instance | BindingFlags.NonPublic) is { } property
        && typeof(SafeHandle).IsAssignableFrom(property.PropertyType)
            ? property
            : null;

    /// <summary>
    /// Gets why the loaded Confluent.Kafka cannot be used (its <see cref="Handle"/> has no non-public
    /// <c>LibrdkafkaHandle</c> safe handle), or null when it can.
    /// </summary>
    public static string? Unsupported { get; } = HandleProperty is null
        ? $"Confluent.Kafka {typeof(Handle).Assembly.GetName().Version} is not supported: its Handle has no non-public {PropertyName} (a SafeHandle), " +
          "which ReliableKafka needs for commits with metadata and for purging producers. Use a Confluent.Kafka version in [2.16.0, 3.0.0) that has it."
        : null;

    /// <summary>Gets the client's safe handle (for callers that hold a reference for longer than one call).</summary>
    public static SafeHandle Of(IClient client) =>
        (SafeHandle)((HandleProperty ?? throw new InvalidOperationException(Unsupported)).GetValue(client.Handle)
            ?? throw new InvalidOperationException("The client has no librdkafka handle."));

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
