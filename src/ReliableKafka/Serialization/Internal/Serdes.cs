using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;

namespace ReliableKafka.Serialization.Internal;

/// <summary>A client's serializer: synchronous (<see cref="Sync"/>) or asynchronous (<see cref="Async"/>, e.g. Schema Registry's).</summary>
internal sealed record MessageSerializer<T>(ISerializer<T>? Sync, IAsyncSerializer<T>? Async)
{
    public bool IsAsync => Async is not null;
}

/// <summary>A client's deserializer: synchronous (<see cref="Sync"/>) or asynchronous (<see cref="Async"/>, e.g. Schema Registry's).</summary>
internal sealed record MessageDeserializer<T>(IDeserializer<T>? Sync, IAsyncDeserializer<T>? Async)
{
    public bool IsAsync => Async is not null;
}

/// <summary>
/// Picks the serializer or deserializer of a client: one registered in DI under the client's name (keyed service),
/// else one registered without a key (in both cases an <see cref="IAsyncSerializer{T}"/> / <see cref="IAsyncDeserializer{T}"/>
/// or an <see cref="ISerializer{T}"/> / <see cref="IDeserializer{T}"/>; both kinds for the same key is an error), else
/// Confluent's built-in for string, byte[], int, long, float, double and Null (and Ignore when reading), else
/// System.Text.Json.
/// </summary>
internal static class Serdes
{
    public static MessageSerializer<T> GetSerializer<T>(IServiceProvider services, string clientName) =>
        Pick(services.GetKeyedService<ISerializer<T>>(clientName), services.GetKeyedService<IAsyncSerializer<T>>(clientName), $"under the key '{clientName}'")
        ?? Pick(services.GetService<ISerializer<T>>(), services.GetService<IAsyncSerializer<T>>(), "without a key")
        ?? new MessageSerializer<T>(BuiltInSerializer<T>() ?? JsonSerde<T>.Instance, null);

    public static MessageDeserializer<T> GetDeserializer<T>(IServiceProvider services, string clientName) =>
        Pick(services.GetKeyedService<IDeserializer<T>>(clientName), services.GetKeyedService<IAsyncDeserializer<T>>(clientName), $"under the key '{clientName}'")
        ?? Pick(services.GetService<IDeserializer<T>>(), services.GetService<IAsyncDeserializer<T>>(), "without a key")
        ?? new MessageDeserializer<T>(BuiltInDeserializer<T>() ?? JsonSerde<T>.Instance, null);

    private static MessageSerializer<T>? Pick<T>(ISerializer<T>? sync, IAsyncSerializer<T>? async, string where) =>
        (sync, async) switch
        {
            (null, null) => null,
            (not null, not null) => throw Ambiguous<T>("ISerializer", "IAsyncSerializer", where),
            _ => new MessageSerializer<T>(sync, async),
        };

    private static MessageDeserializer<T>? Pick<T>(IDeserializer<T>? sync, IAsyncDeserializer<T>? async, string where) =>
        (sync, async) switch
        {
            (null, null) => null,
            (not null, not null) => throw Ambiguous<T>("IDeserializer", "IAsyncDeserializer", where),
            _ => new MessageDeserializer<T>(sync, async),
        };

    private static InvalidOperationException Ambiguous<T>(string sync, string async, string where) =>
        new($"Both an {sync}<{typeof(T).Name}> and an {async}<{typeof(T).Name}> are registered {where}; register one of them.");

    private static ISerializer<T>? BuiltInSerializer<T>()
    {
        var type = typeof(T);
        object? serializer =
            type == typeof(string) ? Serializers.Utf8 :
            type == typeof(byte[]) ? Serializers.ByteArray :
            type == typeof(int) ? Serializers.Int32 :
            type == typeof(long) ? Serializers.Int64 :
            type == typeof(float) ? Serializers.Single :
            type == typeof(double) ? Serializers.Double :
            type == typeof(Null) ? Serializers.Null :
            null;
        return (ISerializer<T>?)serializer;
    }

    private static IDeserializer<T>? BuiltInDeserializer<T>()
    {
        var type = typeof(T);
        object? deserializer =
            type == typeof(string) ? Deserializers.Utf8 :
            type == typeof(byte[]) ? Deserializers.ByteArray :
            type == typeof(int) ? Deserializers.Int32 :
            type == typeof(long) ? Deserializers.Int64 :
            type == typeof(float) ? Deserializers.Single :
            type == typeof(double) ? Deserializers.Double :
            type == typeof(Null) ? Deserializers.Null :
            type == typeof(Ignore) ? Deserializers.Ignore :
            null;
        return (IDeserializer<T>?)deserializer;
    }
}
