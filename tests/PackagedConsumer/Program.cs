// The packaged-consumer test: what a user's app does with the packed packages. Starts the embedded cluster
// (ReliableKafka.Testing), produces through ReliableKafka's producer and schedules messages through its delayed
// delivery, consumes both with handlers (the orders through a retry topic: some fail once, and their customers' later
// orders must still come in order), and exits 0 once the handlers saw every message (no scheduled one before it was
// due, each customer's orders in order), else 1 with the reason.
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
const int ScheduledCount = 10;
const string Topic = "orders";
const string Reminders = "reminders";
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
    var backoff = TimeSpan.FromMilliseconds(500);
    cluster.CreateTopic(RetryTopicOptions.TopicFor("order-processing", Topic, backoff), partitions: 4);
    cluster.CreateTopic("order-processing" + RetryTopicOptions.DefaultParkingTopicSuffix);
    cluster.CreateTopic(Reminders, partitions: 2);
    cluster.CreateTopic(Reminders + ".dlt");
    var delay = new DelayedDeliveryOptions { TopicPrefix = "packaged" };
    delay.Tiers.AddRange([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5)]);
    foreach (var delayTopic in delay.RequiredTopics())
    {
        cluster.CreateTopic(delayTopic, partitions: 2);
    }

    var seen = new SeenMessages(MessageCount);
    var reminders = new SeenMessages(ScheduledCount);
    var builder = Host.CreateApplicationBuilder(args);
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.Services.AddSingleton(seen);
    builder.Services.AddSingleton(new ReminderLog(reminders));
    builder.Services.AddReliableKafka(o => o.BootstrapServers = cluster.BootstrapServers)
        .AddProducer<string, string>()
        .AddConsumer<string, string, OrderHandler>("order-processing", o =>
        {
            o.GroupId = "order-processing";
            o.Topics.Add(Topic);
            o.FailurePolicy = FailurePolicy.RetryTopic;
            o.Retry.MaxAttempts = 1;
            o.RetryTopic.Backoffs.Add(backoff);
        })
        .AddDelayedDelivery(o =>
        {
            o.TopicPrefix = "packaged";
            o.Tiers.AddRange([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5)]);
        })
        .AddConsumer<string, string, ReminderHandler>("reminders", o =>
        {
            o.GroupId = "reminders";
            o.Topics.Add(Reminders);
        });

    using var host = builder.Build();
    await host.StartAsync();
    var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
    for (var i = 0; i < MessageCount; i++)
    {
        await producer.ProduceAsync(Topic, $"customer-{i % 10}", $"order-{i}");
    }

    var scheduler = host.Services.GetRequiredService<IMessageScheduler<string, string>>();
    var due = new Dictionary<string, DateTimeOffset>();
    for (var i = 0; i < ScheduledCount; i++)
    {
        var scheduled = await scheduler.ScheduleAsync(Reminders, $"customer-{i}", $"reminder-{i}", TimeSpan.FromSeconds(1.5 + (i * 0.1)));
        due[$"reminder-{i}"] = scheduled.DueAt;
    }

    var all = Task.WhenAll(seen.AllSeen, reminders.AllSeen);
    var finished = await Task.WhenAny(all, Task.Delay(timeout)) == all;
    await host.StopAsync();
    if (!finished)
    {
        Console.Error.WriteLine($"FAILED ({variant}): the handlers saw {seen.Count} of {MessageCount} messages and {reminders.Count} of {ScheduledCount} scheduled ones within {timeout.TotalSeconds:0} s.");
        return 1;
    }

    var outOfOrder = seen.OutOfOrderCustomers();
    if (outOfOrder.Count > 0 || seen.FailedOnce == 0)
    {
        Console.Error.WriteLine($"FAILED ({variant}): {(seen.FailedOnce == 0 ? "no order went through the retry topic" : $"orders of {string.Join(", ", outOfOrder)} were handled out of order")}.");
        return 1;
    }

    var early = host.Services.GetRequiredService<ReminderLog>().Received.Where(r => r.Value < due[r.Key]).Select(r => r.Key).ToList();
    if (early.Count > 0)
    {
        Console.Error.WriteLine($"FAILED ({variant}): scheduled messages arrived before they were due: {string.Join(", ", early)}.");
        return 1;
    }

    Console.WriteLine($"PASSED ({variant}): produced {MessageCount} messages ({seen.FailedOnce} failing once, through the retry topic) and scheduled {ScheduledCount}; the handlers saw all of them, each customer's in order, none scheduled before it was due.");
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
    /// <summary>The distinct messages the handler saw (and, per key, in which order).</summary>
    internal sealed class SeenMessages(int expected)
    {
        private readonly ConcurrentDictionary<string, bool> _values = new();
        private readonly ConcurrentDictionary<string, ConcurrentQueue<int>> _byKey = new();
        private readonly ConcurrentDictionary<string, bool> _failed = new();
        private readonly TaskCompletionSource _allSeen = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task AllSeen => _allSeen.Task;

        public int Count => _values.Count;

        public int FailedOnce => _failed.Count;

        /// <summary>Whether this is the first attempt of a message chosen to fail once (every 25th order).</summary>
        public bool FailsNow(string value) => value.StartsWith("order-", StringComparison.Ordinal)
            && int.Parse(value["order-".Length..], System.Globalization.CultureInfo.InvariantCulture) % 25 == 3
            && _failed.TryAdd(value, true);

        public void Add(string value, string? key = null)
        {
            if (key is not null && value.StartsWith("order-", StringComparison.Ordinal) && !_values.ContainsKey(value))
            {
                _byKey.GetOrAdd(key, _ => new()).Enqueue(int.Parse(value["order-".Length..], System.Globalization.CultureInfo.InvariantCulture));
            }

            if (_values.TryAdd(value, true) && _values.Count >= expected)
            {
                _allSeen.TrySetResult();
            }
        }

        /// <summary>The keys whose messages were first handled out of their order.</summary>
        public List<string> OutOfOrderCustomers() =>
            [.. _byKey.Where(k => !k.Value.SequenceEqual(k.Value.Order())).Select(k => k.Key).Order(StringComparer.Ordinal)];
    }

    /// <summary>When each scheduled message arrived.</summary>
    internal sealed class ReminderLog(SeenMessages seen)
    {
        public ConcurrentDictionary<string, DateTimeOffset> Received { get; } = new();

        public void Add(string value)
        {
            Received.TryAdd(value, DateTimeOffset.UtcNow);
            seen.Add(value);
        }
    }

    /// <summary>The scheduled messages' handler.</summary>
    internal sealed class ReminderHandler(ReminderLog log) : IMessageHandler<string, string>
    {
        public Task HandleAsync(MessageContext<string, string> context, CancellationToken cancellationToken)
        {
            log.Add(context.Value);
            return Task.CompletedTask;
        }
    }

    /// <summary>The consumer's handler: records each message it was given; a few fail their first attempt.</summary>
    internal sealed class OrderHandler(SeenMessages seen) : IMessageHandler<string, string>
    {
        public Task HandleAsync(MessageContext<string, string> context, CancellationToken cancellationToken)
        {
            if (seen.FailsNow(context.Value))
            {
                throw new TimeoutException($"{context.Value} cannot be stored now (fails once)");
            }

            seen.Add(context.Value, context.Key);
            return Task.CompletedTask;
        }
    }
}
