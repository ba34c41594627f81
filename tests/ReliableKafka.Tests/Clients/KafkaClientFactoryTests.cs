using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using ReliableKafka.Clients.Internal;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Producing.Internal;

namespace ReliableKafka.Tests.Clients;

/// <summary>The builder actions added with ConfigureProducerBuilder / ConfigureConsumerBuilder, and what they may not set.</summary>
public sealed class KafkaClientFactoryTests
{
    [Fact]
    public void NamedProducer_BuilderActionsRunInOrderWithItsNameRoleAndCluster()
    {
        var seen = new List<string>();
        using var services = new ServiceCollection()
            .AddReliableKafka(o =>
            {
                o.BootstrapServers = "127.0.0.1:1";
                o.Clusters["audit"] = new KafkaClusterOptions { BootstrapServers = "127.0.0.1:2" };
            })
            .AddProducer<string, string>("events", p => p.Cluster = "audit")
            .ConfigureProducerBuilder(ctx => seen.Add($"first {ctx.Role} {ctx.Name} {ctx.Cluster}"))
            .ConfigureProducerBuilder(ctx => seen.Add($"second {ctx.Role} {ctx.Name} {ctx.Cluster}"))
            .ConfigureConsumerBuilder(_ => seen.Add("consumer action"))
            .Services.BuildServiceProvider();

        services.GetRequiredService<ProducerClientRegistry>().Get("events");

        seen.Should().Equal("first Producer events audit", "second Producer events audit");
    }

    [Fact]
    public void ProducerAction_SettingTheErrorHandlerReliableKafkaOwns_FailsNamingTheClientAndWhatIsOwned()
    {
        var factory = Factory(s => s.AddReliableKafka().ConfigureProducerBuilder(ctx => ctx.Builder.SetErrorHandler((_, _) => { })));

        var act = () => factory.CreateProducer(Config("orders"), KafkaClientRole.Producer, "orders", _ => { });

        act.Should().Throw<InvalidOperationException>()
            .WithMessage("The producer 'orders' cannot be created: a builder action set a handler that ReliableKafka sets itself*error and log handlers*");
    }

    [Fact]
    public void ConsumerAction_SettingTheLogHandler_FailsForTheDeadLetterLookupToo()
    {
        var factory = Factory(s => s.AddReliableKafka().ConfigureConsumerBuilder(ctx => ctx.Builder.SetLogHandler((_, _) => { })));
        var settings = new Dictionary<string, string> { ["bootstrap.servers"] = "127.0.0.1:1", ["group.id"] = "g" };

        var act = () => factory.CreateConsumer(settings, KafkaClientRole.DeadLetterLookup, "orders", cluster: null);

        act.Should().Throw<InvalidOperationException>().WithMessage("The dead-letter look-up of consumer 'orders' cannot be created*sets itself*");
    }

    [Fact]
    public void ActionThatThrows_FailsTheClientWithTheActionsMessage()
    {
        var factory = Factory(s => s.AddReliableKafka().ConfigureProducerBuilder(_ => throw new FileNotFoundException("token file missing")));

        var act = () => factory.CreateProducer(Config("orders"), KafkaClientRole.DeadLetterProducer, "orders");

        act.Should().Throw<InvalidOperationException>()
            .WithMessage("ConfigureProducerBuilder failed for the dead-letter producer of consumer 'orders': token file missing")
            .WithInnerException<FileNotFoundException>();
    }

    [Fact]
    public void ConfluentKafka_HasTheHandleReliableKafkaNeeds()
    {
        Native.Internal.ClientHandle.Unsupported.Should().BeNull("the referenced Confluent.Kafka keeps the librdkafka handle where ReliableKafka reads it");
        using var producer = KafkaClientFactory.WithoutHooks.CreateProducer(Config("probe"), KafkaClientRole.Producer, "probe");
        Native.Internal.ClientHandle.Of(producer).IsInvalid.Should().BeFalse();
    }

    private static KafkaClientFactory Factory(Action<IServiceCollection> configure)
    {
        var services = new ServiceCollection();
        configure(services);
        var provider = services.BuildServiceProvider();
        return new KafkaClientFactory(provider, NullLoggerFactory.Instance);
    }

    private static KafkaClientConfig Config(string name) => new()
    {
        Path = $"ReliableKafka:Producers:{name}",
        Name = name,
        Guarantee = DeliveryGuarantee.AtLeastOnce,
        Values = new Dictionary<string, string> { ["bootstrap.servers"] = "127.0.0.1:1" },
        Errors = [],
    };
}
