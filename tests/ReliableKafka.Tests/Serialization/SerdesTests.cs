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

        Serdes.GetSerializer<string>(services, "p").Sync.Should().BeSameAs(Serializers.Utf8);
        Serdes.GetSerializer<long>(services, "p").Sync.Should().BeSameAs(Serializers.Int64);
        Serdes.GetSerializer<byte[]>(services, "p").Sync.Should().BeSameAs(Serializers.ByteArray);
        Serdes.GetSerializer<Null>(services, "p").Sync.Should().BeSameAs(Serializers.Null);
        Serdes.GetDeserializer<Ignore>(services, "c").Sync.Should().BeSameAs(Deserializers.Ignore);
    }

    [Fact]
    public void GetSerializer_OtherTypes_UseCamelCaseJsonThatRoundTrips()
    {
        using var services = new ServiceCollection().BuildServiceProvider();
        var serializer = Serdes.GetSerializer<Order>(services, "p").Sync!;
        var deserializer = Serdes.GetDeserializer<Order>(services, "c").Sync!;

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

        Serdes.GetSerializer<Order>(services, "audit").Sync.Should().BeSameAs(keyed);
        Serdes.GetSerializer<Order>(services, "other").Sync.Should().BeSameAs(unkeyed);
    }

    [Fact]
    public void GetSerializer_AsyncSerializerRegistered_IsUsedAndAKeyedOneWinsOverOneWithoutKey()
    {
        var keyed = new AsyncOrderSerde();
        var unkeyed = new AsyncOrderSerde();
        using var services = new ServiceCollection()
            .AddKeyedSingleton<IAsyncSerializer<Order>>("audit", keyed)
            .AddSingleton<IAsyncSerializer<Order>>(unkeyed)
            .AddKeyedSingleton<IAsyncDeserializer<Order>>("audit", keyed)
            .BuildServiceProvider();

        var audit = Serdes.GetSerializer<Order>(services, "audit");
        audit.IsAsync.Should().BeTrue();
        audit.Async.Should().BeSameAs(keyed);
        Serdes.GetSerializer<Order>(services, "other").Async.Should().BeSameAs(unkeyed);
        Serdes.GetDeserializer<Order>(services, "audit").Async.Should().BeSameAs(keyed);
        Serdes.GetDeserializer<Order>(services, "other").IsAsync.Should().BeFalse("no asynchronous deserializer is registered without a key");
    }

    [Fact]
    public void GetSerializer_SyncAndAsyncRegisteredForTheSameKey_IsAnErrorNamingBoth()
    {
        using var services = new ServiceCollection()
            .AddSingleton<ISerializer<Order>>(new FixedSerializer())
            .AddSingleton<IAsyncSerializer<Order>>(new AsyncOrderSerde())
            .BuildServiceProvider();

        var act = () => Serdes.GetSerializer<Order>(services, "p");

        act.Should().Throw<InvalidOperationException>().WithMessage("*ISerializer<Order>*IAsyncSerializer<Order>*without a key*");
    }

    private sealed record Order(string OrderId, int Quantity);

    private sealed class AsyncOrderSerde : IAsyncSerializer<Order>, IAsyncDeserializer<Order>
    {
        public Task<byte[]> SerializeAsync(Order data, SerializationContext context) => Task.FromResult(new byte[] { 2 });

        public Task<Order> DeserializeAsync(ReadOnlyMemory<byte> data, bool isNull, SerializationContext context) => Task.FromResult(new Order("a", 1));
    }

    private sealed class FixedSerializer : ISerializer<Order>
    {
        public byte[] Serialize(Order data, SerializationContext context) => [1];
    }
}
