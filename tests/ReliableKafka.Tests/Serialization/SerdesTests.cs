using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using ReliableKafka.Serialization.Internal;

namespace ReliableKafka.Tests.Serialization;

public sealed class SerdesTests
{
    private static readonly SerializationContext Context = new(MessageComponentType.Value, "t");

    [Fact]
    public void GetSerializer_Primitives_UseConfluentsBuiltIns()
    {
        using var services = new ServiceCollection().BuildServiceProvider();

        Serdes.GetSerializer<string>(services, "p").Should().BeSameAs(Serializers.Utf8);
        Serdes.GetSerializer<long>(services, "p").Should().BeSameAs(Serializers.Int64);
        Serdes.GetSerializer<byte[]>(services, "p").Should().BeSameAs(Serializers.ByteArray);
        Serdes.GetSerializer<Null>(services, "p").Should().BeSameAs(Serializers.Null);
        Serdes.GetDeserializer<Ignore>(services, "c").Should().BeSameAs(Deserializers.Ignore);
    }

    [Fact]
    public void GetSerializer_OtherTypes_UseCamelCaseJsonThatRoundTrips()
    {
        using var services = new ServiceCollection().BuildServiceProvider();
        var serializer = Serdes.GetSerializer<Order>(services, "p");
        var deserializer = Serdes.GetDeserializer<Order>(services, "c");

        var bytes = serializer.Serialize(new Order("o-1", 3), Context);

        Encoding.UTF8.GetString(bytes).Should().Be("""{"orderId":"o-1","quantity":3}""");
        deserializer.Deserialize(bytes, isNull: false, Context).Should().Be(new Order("o-1", 3));
        deserializer.Deserialize(ReadOnlySpan<byte>.Empty, isNull: true, Context).Should().BeNull();
    }

    [Fact]
    public void GetSerializer_RegisteredForTheClientName_WinsOverOneWithoutKeyAndTheDefault()
    {
        var keyed = new FixedSerializer();
        var unkeyed = new FixedSerializer();
        using var services = new ServiceCollection()
            .AddKeyedSingleton<ISerializer<Order>>("audit", keyed)
            .AddSingleton<ISerializer<Order>>(unkeyed)
            .BuildServiceProvider();

        Serdes.GetSerializer<Order>(services, "audit").Should().BeSameAs(keyed);
        Serdes.GetSerializer<Order>(services, "other").Should().BeSameAs(unkeyed);
    }

    private sealed record Order(string OrderId, int Quantity);

    private sealed class FixedSerializer : ISerializer<Order>
    {
        public byte[] Serialize(Order data, SerializationContext context) => [1];
    }
}
