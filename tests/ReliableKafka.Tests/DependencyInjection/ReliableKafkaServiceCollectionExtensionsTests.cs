using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Deduplication;
using ReliableKafka.DependencyInjection.Internal;
using ReliableKafka.Producing.Internal;

namespace ReliableKafka.Tests.DependencyInjection;

public sealed class ReliableKafkaServiceCollectionExtensionsTests
{
    [Fact]
    public void AddReliableKafka_NullArguments_ThrowWithTheParameterName()
    {
        var services = new ServiceCollection();

        ((Action)(() => ReliableKafkaServiceCollectionExtensions.AddReliableKafka(null!))).Should().Throw<ArgumentNullException>().WithParameterName("services");
        ((Action)(() => services.AddReliableKafka((Action<ReliableKafkaOptions>)null!))).Should().Throw<ArgumentNullException>().WithParameterName("configure");
        ((Action)(() => services.AddReliableKafka((Action<ReliableKafkaOptions, IServiceProvider>)null!))).Should().Throw<ArgumentNullException>().WithParameterName("configure");
        ((Action)(() => services.AddReliableKafka((IConfiguration)null!))).Should().Throw<ArgumentNullException>().WithParameterName("configuration");
    }

    [Fact]
    public void AddReliableKafka_CalledTwice_RegistersItsServicesOnceAndAppliesBothActions()
    {
        var services = new ServiceCollection();

        services.AddReliableKafka(o => o.BootstrapServers = "a:1");
        services.AddReliableKafka(o => o.ClientId = "shop");

        services.Count(d => d.ServiceType == typeof(ReliableKafkaRegistry)).Should().Be(1);
        services.Count(d => d.ServiceType == typeof(IValidateOptions<ReliableKafkaOptions>)).Should().Be(1);
        services.Count(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(ProducerShutdownService)).Should().Be(1);
        var options = services.BuildServiceProvider().GetRequiredService<IOptions<ReliableKafkaOptions>>().Value;
        options.BootstrapServers.Should().Be("a:1");
        options.ClientId.Should().Be("shop");
    }

    [Fact]
    public void AddReliableKafka_WithServiceProvider_ConfiguresFromServices()
    {
        var services = new ServiceCollection();
        services.AddSingleton(new BrokerAddress("from-di:9092"));

        services.AddReliableKafka((o, sp) => o.BootstrapServers = sp.GetRequiredService<BrokerAddress>().Value);

        services.BuildServiceProvider().GetRequiredService<IOptions<ReliableKafkaOptions>>().Value.BootstrapServers.Should().Be("from-di:9092");
    }

    [Fact]
    public void AddProducer_Default_IsOneSingletonResolvedByTypeAndByName()
    {
        var services = new ServiceCollection();
        services.AddReliableKafka(o => o.BootstrapServers = "a:1").AddProducer<string, string>();
        using var provider = services.BuildServiceProvider();

        var byType = provider.GetRequiredService<IReliableProducer<string, string>>();
        var byName = provider.GetRequiredKeyedService<IReliableProducer<string, string>>(ReliableKafkaBuilderExtensions.DefaultProducerName);

        byType.Should().BeSameAs(byName).And.BeSameAs(provider.GetRequiredService<IReliableProducer<string, string>>());
        byType.Name.Should().Be("default");
        provider.GetRequiredService<IOptions<ReliableKafkaOptions>>().Value.Producers.Should().ContainKey("default");
    }

    [Fact]
    public void AddProducer_SameNameAndTypesTwice_RegistersOneProducerAndAppliesBothActions()
    {
        var services = new ServiceCollection();
        services.AddReliableKafka(o => o.BootstrapServers = "a:1")
            .AddProducer<string, string>("events", p => p.BatchSize = 10)
            .AddProducer<string, string>("events", p => p.Compression = CompressionType.Zstd);
        using var provider = services.BuildServiceProvider();

        services.Count(d => d.ServiceType == typeof(IReliableProducer<string, string>) && d.IsKeyedService).Should().Be(1);
        var options = provider.GetRequiredService<IOptions<ReliableKafkaOptions>>().Value.Producers["events"];
        options.BatchSize.Should().Be(10);
        options.Compression.Should().Be(CompressionType.Zstd);
    }

    [Fact]
    public void AddProducer_BlankName_ThrowsWithTheParameterName()
    {
        var builder = new ServiceCollection().AddReliableKafka();

        var act = () => builder.AddProducer<string, string>(" ");

        act.Should().Throw<ArgumentException>().WithParameterName("name");
    }

    [Fact]
    public void AddConsumer_SameNameTwice_ThrowsNamingTheConsumer()
    {
        var builder = new ServiceCollection().AddReliableKafka().AddConsumer<string, string, NoOpHandler>("orders");

        var act = () => builder.AddConsumer<string, string, NoOpHandler>("ORDERS");

        act.Should().Throw<InvalidOperationException>().WithMessage("A consumer named 'ORDERS' was added already; consumer names must be unique.");
    }

    [Fact]
    public void AddConsumer_RegistersAScopedHandlerAndAHostedServiceAfterTheProducerFlush()
    {
        var services = new ServiceCollection();
        services.AddReliableKafka(o => o.BootstrapServers = "a:1")
            .AddConsumer<string, string, NoOpHandler>("orders", c =>
            {
                c.GroupId = "g";
                c.Topics.Add("orders");
            });

        services.Should().ContainSingle(d => d.ServiceType == typeof(NoOpHandler)).Which.Lifetime.Should().Be(ServiceLifetime.Scoped);
        using var provider = services.BuildServiceProvider();
        var hosted = provider.GetServices<IHostedService>().ToList();
        hosted.Should().HaveCount(2);
        hosted[0].Should().BeOfType<ProducerShutdownService>("it is registered first, so the host stops it last");
        hosted[1].Should().BeAssignableTo<IReliableConsumerService>().Which.Name.Should().Be("orders");
    }

    [Fact]
    public async Task ProduceAsync_BlankTopicOrNullMessage_ThrowsWithTheParameterName()
    {
        var services = new ServiceCollection();
        services.AddReliableKafka(o => o.BootstrapServers = "a:1").AddProducer<string, string>();
        using var provider = services.BuildServiceProvider();
        var producer = provider.GetRequiredService<IReliableProducer<string, string>>();

        var blankTopic = () => producer.ProduceAsync(" ", "k", "v");
        var nullMessage = () => producer.ProduceAsync("t", (Message<string, string>)null!);

        await blankTopic.Should().ThrowAsync<ArgumentException>().WithParameterName("topic");
        await nullMessage.Should().ThrowAsync<ArgumentNullException>().WithParameterName("message");
    }

    [Fact]
    public void AddReliableKafka_ConfigurationSection_BindsEveryLevel()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ReliableKafka:BootstrapServers"] = "k1:9092,k2:9092",
            ["ReliableKafka:DeliveryGuarantee"] = "AtMostOnce",
            ["ReliableKafka:Security:Protocol"] = "SaslSsl",
            ["ReliableKafka:Config:socket.keepalive.enable"] = "true",
            ["ReliableKafka:Producers:default:Linger"] = "00:00:00.020",
            ["ReliableKafka:Consumers:orders:GroupId"] = "orders-service",
            ["ReliableKafka:Consumers:orders:Topics:0"] = "orders",
            ["ReliableKafka:Consumers:orders:Topics:1"] = "orders-retry",
            ["ReliableKafka:Consumers:orders:SessionTimeout"] = "00:00:10",
            ["ReliableKafka:Consumers:orders:Config:isolation.level"] = "read_committed",
        }).Build();
        var services = new ServiceCollection();
        services.AddReliableKafka(configuration.GetSection(ReliableKafkaOptions.SectionName))
            .AddProducer<string, string>()
            .AddConsumer<string, string, NoOpHandler>("orders");
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<ReliableKafkaOptions>>().Value;

        options.BootstrapServers.Should().Be("k1:9092,k2:9092");
        options.DeliveryGuarantee.Should().Be(DeliveryGuarantee.AtMostOnce);
        options.Security.Protocol.Should().Be(SecurityProtocol.SaslSsl);
        options.Config.Should().Contain("socket.keepalive.enable", "true");
        options.Producers["default"].Linger.Should().Be(TimeSpan.FromMilliseconds(20));
        var consumer = options.Consumers["orders"];
        consumer.GroupId.Should().Be("orders-service");
        consumer.Topics.Should().Equal("orders", "orders-retry");
        consumer.SessionTimeout.Should().Be(TimeSpan.FromSeconds(10));
        consumer.Config.Should().Contain("isolation.level", "read_committed");
    }

    [Fact]
    public void AddReliableKafka_TwoSections_SharedOneAndAProcessesOwnConsumers_AreBothBound()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ReliableKafka:BootstrapServers"] = "k:9092",
            ["ReliableKafka:Producers:default:Linger"] = "00:00:00.020",
            ["OrderProcessing:ReliableKafka:Consumers:order-processing:GroupId"] = "order-processing",
            ["OrderProcessing:ReliableKafka:Consumers:order-processing:Topics:0"] = "orders",
        }).Build();
        using var consumerProcess = new ServiceCollection()
            .AddReliableKafka(configuration.GetSection("ReliableKafka")).AddProducer<string, string>().Services
            .AddReliableKafka(configuration.GetSection("OrderProcessing:ReliableKafka")).AddConsumer<string, string, NoOpHandler>("order-processing").Services
            .BuildServiceProvider();
        using var producerProcess = new ServiceCollection()
            .AddReliableKafka(configuration.GetSection("ReliableKafka")).AddProducer<string, string>().Services
            .BuildServiceProvider();

        var options = consumerProcess.GetRequiredService<IOptions<ReliableKafkaOptions>>().Value;
        options.BootstrapServers.Should().Be("k:9092");
        options.Producers["default"].Linger.Should().Be(TimeSpan.FromMilliseconds(20));
        options.Consumers["order-processing"].Topics.Should().Equal("orders");
        producerProcess.GetRequiredService<IOptions<ReliableKafkaOptions>>().Value.Consumers.Should().BeEmpty(
            "the producer-only process does not bind the consumers' section, so no consumer is configured without AddConsumer");
    }

    [Fact]
    public async Task StartAsync_UnknownConfigurationKey_FailsNamingTheKey()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ReliableKafka:BootstrapServers"] = "k:9092",
            ["ReliableKafka:Consumers:orders:GroupId"] = "g",
            ["ReliableKafka:Consumers:orders:Topics:0"] = "orders",
            ["ReliableKafka:Consumers:orders:SesionTimeout"] = "00:00:10",
        }).Build();
        using var host = BuildHost(services => services.AddReliableKafka(configuration.GetSection("ReliableKafka"))
            .AddConsumer<string, string, NoOpHandler>("orders"));

        var act = () => host.StartAsync();

        var error = (await act.Should().ThrowAsync<InvalidOperationException>()).Which;
        error.Message.Should().Contain("ErrorOnUnknownConfiguration");
        error.InnerException!.Message.Should().Contain("'SesionTimeout'").And.Contain(nameof(ConsumerOptions));
    }

    [Fact]
    public async Task StartAsync_InvalidOptions_FailsWithTheExactValidationErrors()
    {
        using var host = BuildHost(services => services
            .AddReliableKafka(o => o.BootstrapServers = "k:9092")
            .AddProducer<string, string>(p => p.Acks = Acks.Leader)
            .AddConsumer<string, string, NoOpHandler>("orders", c =>
            {
                c.GroupId = "orders-service";
                c.Topics.Add("orders");
                c.HeartbeatInterval = TimeSpan.FromSeconds(5);
                c.SessionTimeout = TimeSpan.FromSeconds(10);
            }));

        var act = () => host.StartAsync();

        var error = (await act.Should().ThrowAsync<OptionsValidationException>()).Which;
        error.Failures.Should().Equal(
            "ReliableKafka:Producers:default: acks=1 (option Acks) contradicts DeliveryGuarantee AtLeastOnce: it requires acks=all; a write acknowledged by fewer replicas is lost if the leader fails.",
            "ReliableKafka:Consumers:orders: HeartbeatInterval (5000 ms) must be at most one third of SessionTimeout (10000 ms).");
        error.Message.Should().Be(string.Join("; ", error.Failures));
    }

    [Fact]
    public async Task StartAsync_ExactlyOnceWithoutStore_FailsInsteadOfDowngrading()
    {
        using var host = BuildHost(services => services
            .AddReliableKafka(o =>
            {
                o.BootstrapServers = "k:9092";
                o.DeliveryGuarantee = DeliveryGuarantee.ExactlyOnce;
            })
            .AddConsumer<string, string, NoOpHandler>("orders", c =>
            {
                c.GroupId = "orders-service";
                c.Topics.Add("orders");
            }));

        var act = () => host.StartAsync();

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Failures.Should().ContainSingle()
            .Which.Should().StartWith("ReliableKafka:Consumers:orders:Deduplication: DeliveryGuarantee ExactlyOnce needs it, but no deduplication store was added");
    }

    [Fact]
    public async Task StartAsync_SqliteStoreWithoutConnectionString_FailsNamingTheStoreAndOption()
    {
        using var host = BuildHost(services => services
            .AddReliableKafka(o => o.BootstrapServers = "k:9092")
            .UseSqliteDeduplication(o => o.Retention = TimeSpan.FromDays(1)));

        var act = () => host.StartAsync();

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Failures.Should().Equal(
            "ReliableKafka:Deduplication (Sqlite store): ConnectionString must be set, e.g. \"Data Source=dedup.db\".");
    }

    [Fact]
    public void UseDeduplication_SecondDifferentStore_Throws()
    {
        var builder = new ServiceCollection().AddReliableKafka().UseInMemoryDeduplication();

        var act = () => builder.UseSqliteDeduplication("Data Source=x.db");

        act.Should().Throw<InvalidOperationException>().WithMessage("A InMemory deduplication store was added already*");
    }

    [Fact]
    public void UseInMemoryDeduplication_Twice_RegistersOneStore()
    {
        var services = new ServiceCollection();
        services.AddReliableKafka().UseInMemoryDeduplication().UseInMemoryDeduplication(o => o.MaxEntries = 5);

        using var provider = services.BuildServiceProvider();
        provider.GetServices<IDeduplicationStore>().Should().ContainSingle().Which.Should().BeOfType<InMemoryDeduplicationStore>();
        provider.GetRequiredService<IOptions<InMemoryDeduplicationOptions>>().Value.MaxEntries.Should().Be(5);
    }

    [Fact]
    public void UsePostgreSqlDeduplication_TransactionalInbox_RegistersTheInboxStoreAndTheScopedInbox()
    {
        var services = new ServiceCollection();
        services.AddReliableKafka().UsePostgreSqlDeduplication(o =>
        {
            o.ConnectionString = "Host=db;Database=app";
            o.TransactionalInbox = true;
        });

        using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IDeduplicationStore>().Should().BeOfType<ReliableKafka.PostgreSql.PostgreSqlInboxStore>();
        using var scope = provider.CreateScope();
        scope.ServiceProvider.GetRequiredService<ReliableKafka.PostgreSql.PostgreSqlInbox>().IsActive.Should().BeFalse();
    }

    [Fact]
    public async Task StartAsync_InboxPoolSmallerThanTheHandlersThatMayRun_Fails()
    {
        using var host = BuildHost(services => services
            .AddReliableKafka(o => o.BootstrapServers = "k:9092")
            .UsePostgreSqlDeduplication(o =>
            {
                o.ConnectionString = "Host=db;Database=app;Maximum Pool Size=20";
                o.TransactionalInbox = true;
            })
            .AddConsumer<string, string, NoOpHandler>("orders", o =>
            {
                o.GroupId = "g";
                o.Topics.Add("orders");
                o.MaxConcurrency = 16;
            }));

        var act = () => host.StartAsync();

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Failures.Should().Equal(
            "ReliableKafka:Deduplication:PostgreSql: the connection pool (Maximum Pool Size 20) is smaller than what this host may use at once: 10 for the store and 16 for inbox handlers (the MaxConcurrency of the consumers that deduplicate); raise Maximum Pool Size to at least 26 in the connection string, or lower MaxConcurrency.");
    }

    [Fact]
    public async Task StartAsync_DataSourceFromDIWithAPoolTooSmallForTheStoreAndItsRenewals_FailsNamingTheDataSource()
    {
        await using var dataSource = Npgsql.NpgsqlDataSource.Create("Host=db;Database=app;Maximum Pool Size=11");
        using var host = BuildHost(services => services
            .AddSingleton(dataSource)
            .AddReliableKafka(o => o.BootstrapServers = "k:9092")
            .UsePostgreSqlDeduplication((o, sp) => o.DataSource = sp.GetRequiredService<Npgsql.NpgsqlDataSource>()));

        var act = () => host.StartAsync();

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Failures.Should().Equal(
            "ReliableKafka:Deduplication:PostgreSql: the connection pool (Maximum Pool Size 11) is smaller than what this host may use at once: 12 for the store; raise Maximum Pool Size to at least 12 in the data source's connection string.");
    }

    [Theory]
    [InlineData(false, false, "ReliableKafka:Deduplication (PostgreSql store): ConnectionString must be set*or, in code, DataSource*")]
    [InlineData(true, true, "ReliableKafka:Deduplication (PostgreSql store): ConnectionString and DataSource are both set; set one of them.")]
    public async Task StartAsync_PostgreSqlStoreWithNeitherOrBothConnectionStringAndDataSource_Fails(bool connectionString, bool dataSource, string expected)
    {
        await using var source = Npgsql.NpgsqlDataSource.Create("Host=db;Database=app");
        using var host = BuildHost(services => services
            .AddReliableKafka(o => o.BootstrapServers = "k:9092")
            .UsePostgreSqlDeduplication(o =>
            {
                o.ConnectionString = connectionString ? "Host=db;Database=app" : null;
                o.DataSource = dataSource ? source : null;
            }));

        var act = () => host.StartAsync();

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Failures.Should().ContainSingle().Which.Should().Match(expected);
    }

    [Fact]
    public async Task StartAsync_MessageIdSelectorForUnknownConsumer_Fails()
    {
        using var host = BuildHost(services => services
            .AddReliableKafka(o => o.BootstrapServers = "k:9092")
            .UseMessageIdSelector<string, string>("payments", c => c.Key));

        var act = () => host.StartAsync();

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Failures.Should().Equal(
            "ReliableKafka:Consumers:payments: UseMessageIdSelector names a consumer that was not added with AddConsumer.");
    }

    [Fact]
    public async Task UseDeduplicationStore_PurgesAtStartAndThenEveryPurgeInterval()
    {
        var store = new PurgeCountingStore();
        using var host = BuildHost(services => services
            .AddReliableKafka(o => o.BootstrapServers = "k:9092")
            .UseDeduplicationStore<PurgeCountingStore, InMemoryDeduplicationOptions>("Counting", (_, _) => store, (o, _) => o.PurgeInterval = TimeSpan.FromMilliseconds(100)));

        await host.StartAsync();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (store.Purges < 3 && waited.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }

        await host.StopAsync();
        store.Purges.Should().BeGreaterThanOrEqualTo(3);
    }

    [Fact]
    public void UseMessageIdSelector_NullArguments_ThrowNamingTheParameter()
    {
        var builder = new ServiceCollection().AddReliableKafka();

        ((Action)(() => builder.UseMessageIdSelector<string, string>("orders", null!))).Should().Throw<ArgumentNullException>().WithParameterName("selector");
        ((Action)(() => builder.UseMessageIdSelector<string, string>(" ", c => c.Key))).Should().Throw<ArgumentException>().WithParameterName("consumerName");
    }

    private static IHost BuildHost(Action<IServiceCollection> configure)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        configure(builder.Services);
        return builder.Build();
    }

    private sealed record BrokerAddress(string Value);

    private sealed class PurgeCountingStore : IDeduplicationStore
    {
        private int _purges;

        public int Purges => Volatile.Read(ref _purges);

        public ValueTask<ClaimResult> ClaimAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<bool> CompleteAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<bool> RenewAsync(DeduplicationKey key, Guid owner, TimeSpan lease, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask ReleaseAsync(DeduplicationKey key, Guid owner, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<long> PurgeAsync(CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _purges);
            return ValueTask.FromResult(0L);
        }
    }

    private sealed class NoOpHandler : IMessageHandler<string, string>
    {
        public Task HandleAsync(MessageContext<string, string> context, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
