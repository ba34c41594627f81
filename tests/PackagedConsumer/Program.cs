// The packaged-consumer test: what a user's app does with the packed packages. Starts the embedded cluster
// (ReliableKafka.Testing), produces through ReliableKafka's producer, consumes with a handler, and exits 0 once the
// handler saw every message, else 1 with the reason.
using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PackagedConsumer;
using ReliableKafka;
using ReliableKafka.Testing;

const int MessageCount = 100;
const string Topic = "orders";
var timeout = TimeSpan.FromSeconds(60);

var library = typeof(IReliableKafkaBuilder).Assembly;
var variant = $"{AppContext.TargetFrameworkName} on {RuntimeInformation.FrameworkDescription}";
Console.WriteLine($"Packaged consumer ({variant}): ReliableKafka {Informational(library)}, " +
    $"Microsoft.Extensions.Options {Informational(typeof(Microsoft.Extensions.Options.IOptions<>).Assembly)}, " +
    $"Confluent.Kafka {Informational(typeof(Confluent.Kafka.Message<,>).Assembly)}");
#if SCHEMA_REGISTRY_SERDES
Console.WriteLine($"Confluent.SchemaRegistry.Serdes.Json {Informational(typeof(Confluent.SchemaRegistry.Serdes.JsonSerializer<>).Assembly)}");
#endif

try
{
    await using var cluster = new EmbeddedKafkaCluster(new EmbeddedKafkaClusterOptions { BrokerCount = 3 });
    cluster.CreateTopic(Topic, partitions: 4);
    cluster.CreateTopic(Topic + ".dlt");

    var seen = new SeenMessages(MessageCount);
    var builder = Host.CreateApplicationBuilder(args);
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.Services.AddSingleton(seen);
    builder.Services.AddReliableKafka(o => o.BootstrapServers = cluster.BootstrapServers)
        .AddProducer<string, string>()
        .AddConsumer<string, string, OrderHandler>("order-processing", o =>
        {
            o.GroupId = "order-processing";
            o.Topics.Add(Topic);
        });

    using var host = builder.Build();
    await host.StartAsync();
    var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
    for (var i = 0; i < MessageCount; i++)
    {
        await producer.ProduceAsync(Topic, $"customer-{i % 10}", $"order-{i}");
    }

    var finished = await Task.WhenAny(seen.AllSeen, Task.Delay(timeout)) == seen.AllSeen;
    await host.StopAsync();
    if (!finished)
    {
        Console.Error.WriteLine($"FAILED ({variant}): the handler saw {seen.Count} of {MessageCount} messages within {timeout.TotalSeconds:0} s.");
        return 1;
    }

    Console.WriteLine($"PASSED ({variant}): produced {MessageCount} messages, the handler saw all of them.");
    return 0;
}
catch (Exception e)
{
    Console.Error.WriteLine($"FAILED ({variant}): {e}");
    return 1;
}

static string Informational(Assembly assembly) =>
    assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
    ?? assembly.GetName().Version?.ToString()
    ?? "?";

namespace PackagedConsumer
{
    /// <summary>The distinct messages the handler saw.</summary>
    internal sealed class SeenMessages(int expected)
    {
        private readonly ConcurrentDictionary<string, bool> _values = new();
        private readonly TaskCompletionSource _allSeen = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task AllSeen => _allSeen.Task;

        public int Count => _values.Count;

        public void Add(string value)
        {
            if (_values.TryAdd(value, true) && _values.Count >= expected)
            {
                _allSeen.TrySetResult();
            }
        }
    }

    /// <summary>The consumer's handler: records each message it was given.</summary>
    internal sealed class OrderHandler(SeenMessages seen) : IMessageHandler<string, string>
    {
        public Task HandleAsync(MessageContext<string, string> context, CancellationToken cancellationToken)
        {
            seen.Add(context.Value);
            return Task.CompletedTask;
        }
    }
}
