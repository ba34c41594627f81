using System.Collections.Concurrent;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;
using Microsoft.Extensions.DependencyInjection;
using ReliableKafka.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Serialization;

/// <summary>Confluent's Schema Registry JSON serdes, registered in DI as asynchronous serdes, against an in-memory registry.</summary>
public sealed class SchemaRegistrySerdesTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestKafka _kafka = TestKafka.Start(brokers: 1);

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task JsonSerdesFromDI_ProducedAndConsumed_RoundTripInTheRegistryWireFormat()
    {
        var topic = _kafka.CreateTopic("registry", 2);
        var (client, registry) = FakeSchemaRegistry.Create();
        var received = new ConcurrentQueue<Shipment>();
        using var host = BuildHost(topic, client, received);
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, Shipment>>();

        for (var i = 0; i < 20; i++)
        {
            await producer.ProduceAsync(topic, $"s-{i}", new Shipment { Id = $"s-{i}", Parcels = i });
        }

        await Eventually.UntilAsync(() => received.Count >= 20, "all 20 shipments are handled");
        await host.StopAsync();

        received.Select(s => (s.Id, s.Parcels)).Should().BeEquivalentTo(Enumerable.Range(0, 20).Select(i => ($"s-{i}", i)));
        registry.Subjects.Should().Equal($"{topic}-value");
        var raw = KafkaClients.ReadAll(_kafka.BootstrapServers, topic, 20);
        raw.Should().HaveCount(20).And.OnlyContain(r => r.Message.Value.Length > 0 && r.Message.Value[0] == '\0', "values are in the registry's wire format (magic byte 0, then the schema id), not plain JSON");
    }

    [Fact]
    public async Task AsyncDeserializer_RegistryUnreachableForTwoReads_IsRetriedAndNothingIsDeadLettered()
    {
        var topic = _kafka.CreateTopic("registry-down", 1);
        var (client, registry) = FakeSchemaRegistry.Create();
        var received = new ConcurrentQueue<Shipment>();
        using var host = BuildHost(topic, client, received);
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, Shipment>>();
        registry.FailNextReads = 2;

        await producer.ProduceAsync(topic, "s-1", new Shipment { Id = "s-1", Parcels = 1 });
        await Eventually.UntilAsync(() => !received.IsEmpty, "the shipment is handled once the registry answers");
        await host.StopAsync();

        registry.InjectedFailures.Should().Be(2, "the deserializer's first two reads of the schema failed");
        received.Should().ContainSingle("the record was handled, not dead-lettered as poison").Which.Id.Should().Be("s-1");
    }

    [Fact]
    public async Task AsyncDeserializer_UnknownSchemaId_IsPoisonAndDeadLetteredAtOnce()
    {
        var topic = _kafka.CreateTopic("registry-unknown", 1);
        _kafka.CreateNamedTopic(topic + DeadLetterOptions.DefaultTopicSuffix, 1);
        var (client, _) = FakeSchemaRegistry.Create();
        var received = new ConcurrentQueue<Shipment>();
        using var host = BuildHost(topic, client, received);
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, Shipment>>();

        // The wire format with a schema id the registry does not know (it answers 404), then a good record.
        using (var raw = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = _kafka.BootstrapServers }).Build())
        {
            await raw.ProduceAsync(topic, new Message<string, byte[]> { Key = "s-0", Value = [0, 0, 0, 0x03, 0xE7, (byte)'{', (byte)'}'] });
        }

        await producer.ProduceAsync(topic, "s-1", new Shipment { Id = "s-1", Parcels = 1 });
        await Eventually.UntilAsync(() => !received.IsEmpty, "the good record is handled");
        await host.StopAsync();

        var dead = KafkaClients.ReadAll(_kafka.BootstrapServers, topic + DeadLetterOptions.DefaultTopicSuffix, 1);
        dead.Should().ContainSingle("an unknown schema is final: the record is poison, not a registry outage to wait for")
            .Which.Message.Key.Should().Be("s-0");
        received.Select(s => s.Id).Should().Equal("s-1");
    }

    private Microsoft.Extensions.Hosting.IHost BuildHost(string topic, ISchemaRegistryClient client, ConcurrentQueue<Shipment> received) =>
        TestHost.Build(output, services =>
        {
            services.AddSingleton(client);
            services.AddSingleton(received);
            services.AddSingleton<IAsyncSerializer<Shipment>>(sp => new JsonSerializer<Shipment>(sp.GetRequiredService<ISchemaRegistryClient>()));
            services.AddSingleton<IAsyncDeserializer<Shipment>>(sp => new JsonDeserializer<Shipment>(sp.GetRequiredService<ISchemaRegistryClient>()));
            services.AddReliableKafka(o => o.BootstrapServers = _kafka.BootstrapServers)
                .AddProducer<string, Shipment>()
                .AddConsumer<string, Shipment, ShipmentHandler>("shipments", o =>
                {
                    o.GroupId = TestKafka.Unique("group");
                    o.Topics.Add(topic);
                    o.Retry.MaxAttempts = 4;
                    o.Retry.InitialDelay = TimeSpan.FromMilliseconds(20);
                    TestHost.FastGroup(o);
                });
        });

    /// <summary>A value with a JSON schema.</summary>
    public sealed class Shipment
    {
        public string Id { get; set; } = string.Empty;

        public int Parcels { get; set; }
    }

    private sealed class ShipmentHandler(ConcurrentQueue<Shipment> received) : IMessageHandler<string, Shipment>
    {
        public Task HandleAsync(MessageContext<string, Shipment> context, CancellationToken cancellationToken)
        {
            received.Enqueue(context.Value);
            return Task.CompletedTask;
        }
    }
}
