using System.Text.Json;
using Confluent.Kafka;

namespace ReliableKafka.Serialization.Internal;

/// <summary>System.Text.Json (web defaults: camelCase, case-insensitive reads) for types without a Confluent built-in serializer.</summary>
internal sealed class JsonSerde<T> : ISerializer<T>, IDeserializer<T>
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    public static JsonSerde<T> Instance { get; } = new();

    public byte[] Serialize(T data, SerializationContext context) =>
        data is null ? null! : JsonSerializer.SerializeToUtf8Bytes(data, Options);

    public T Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context) =>
        isNull ? default! : JsonSerializer.Deserialize<T>(data, Options)!;
}
