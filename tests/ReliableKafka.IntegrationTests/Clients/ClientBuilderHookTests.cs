using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using ReliableKafka.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Clients;

/// <summary>ConfigureProducerBuilder and ConfigureConsumerBuilder reach every client ReliableKafka creates, and what they set works.</summary>
public sealed class ClientBuilderHookTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestKafka _kafka = TestKafka.Start(brokers: 1);

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task StatisticsHandlersSetInHooks_RunForTheProducerTheConsumerAndTheDeadLetterProducer()
    {
        var topic = _kafka.CreateTopic("hooks", 1);
        _kafka.CreateNamedTopic(topic + ".dlt", 1);
        var built = new ConcurrentQueue<(KafkaClientRole Role, string Name, string? Cluster)>();
        var statistics = new ConcurrentDictionary<KafkaClientRole, string>();
        var probe = new HandlerProbe
        {
            Behavior = (context, _) => context.Value == "poison" ? throw new ArgumentException("not an order") : Task.CompletedTask,
        };
        using var host = TestHost.BuildConsumer(
            output,
            _kafka.BootstrapServers,
            topic,
            TestKafka.Unique("group"),
            probe,
            o => o.FailurePolicy = FailurePolicy.DeadLetter,
            kafka => kafka
                .AddReliableKafkaConfig(o => o.Config["statistics.interval.ms"] = "100")
                .AddProducer<string, string>()
                .ConfigureProducerBuilder(ctx =>
                {
                    built.Enqueue((ctx.Role, ctx.Name, ctx.Cluster));
                    var role = ctx.Role;
                    ctx.Builder.SetStatisticsHandler((_, json) => statistics[role] = json);
                })
                .ConfigureConsumerBuilder(ctx =>
                {
                    built.Enqueue((ctx.Role, ctx.Name, ctx.Cluster));
                    var role = ctx.Role;
                    ctx.Builder.SetStatisticsHandler((_, json) => statistics[role] = json);
                }));
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();

        await producer.ProduceAsync(topic, "k", "good");
        await producer.ProduceAsync(topic, "k", "poison");
        await Eventually.UntilAsync(() => probe.Attempts.Any(r => r.Value == "poison") && !probe.Handled.IsEmpty, "both records were tried");
        await Eventually.UntilAsync(
            () => statistics.ContainsKey(KafkaClientRole.Producer) && statistics.ContainsKey(KafkaClientRole.Consumer) && statistics.ContainsKey(KafkaClientRole.DeadLetterProducer),
            "each client's statistics handler ran");
        await host.StopAsync();

        built.Should().Contain([(KafkaClientRole.Producer, "default", null), (KafkaClientRole.Consumer, "test", null), (KafkaClientRole.DeadLetterProducer, "test", null)]);
        statistics[KafkaClientRole.Consumer].Should().Contain("\"type\": \"consumer\"").And.Contain("reliablekafka-test");
        statistics[KafkaClientRole.Producer].Should().Contain("\"type\": \"producer\"").And.Contain("reliablekafka-default");
        statistics[KafkaClientRole.DeadLetterProducer].Should().Contain("reliablekafka-test-dlt");
    }
}
