using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;

namespace ReliableKafka.Serialization.Internal;

/// <summary>
/// Picks the serializer or deserializer of a client: one registered in DI under the client's name (keyed
/// service), else one registered without a key, else Confluent's built-in for string, byte[], int, long,
/// float, double and Null (and Ignore when reading), else System.Text.Json.
/// </summary>
internal static class Serdes
{
    public static ISerializer<T> GetSerializer<T>(IServiceProvider services, string clientName) =>
        services.GetKeyedService<ISerializer<T>>(clientName)
        ?? services.GetService<ISerializer<T>>()
        ?? BuiltInSerializer<T>()
        ?? JsonSerde<T>.Instance;

    public static IDeserializer<T> GetDeserializer<T>(IServiceProvider services, string clientName) =>
        services.GetKeyedService<IDeserializer<T>>(clientName)
        ?? services.GetService<IDeserializer<T>>()
        ?? BuiltInDeserializer<T>()
        ?? JsonSerde<T>.Instance;

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
