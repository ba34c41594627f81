using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ReliableKafka;
using ReliableKafka.Testing;
using Scheduling;

// Cancel an unpaid order after a deadline unless the payment arrives first: the deadline is a scheduled message on
// Kafka (no database scheduler), and a payment cancels it. Runs on an embedded Kafka cluster:
//   dotnet run --project samples/ReliableKafka.Samples.Scheduling
var deadline = TimeSpan.FromSeconds(8);
using var kafka = new EmbeddedKafkaCluster(new EmbeddedKafkaClusterOptions { BrokerCount = 1 });
kafka.CreateTopic("payment-deadlines", 3);

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddSingleton<Orders>();

// snippet: delayed-delivery-setup
builder.Services.AddReliableKafka(o => o.BootstrapServers = kafka.BootstrapServers)
    .AddDelayedDelivery(o =>
    {
        o.TopicPrefix = "shop";
        o.Tiers.AddRange([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30)]);
    })
    .AddConsumer<string, PaymentDeadline, PaymentDeadlineHandler>("payment-deadlines", o =>
    {
        o.GroupId = "shop-orders";
        o.Topics.Add("payment-deadlines");
    })
    .UseInMemoryDeduplication(); // a deadline forwarded twice (after a crash) is handled once
// end snippet

// The delay topics: on a real cluster, set CreateTopics = true (or create them once); the embedded one creates them here.
var delay = new DelayedDeliveryOptions { TopicPrefix = "shop" };
delay.Tiers.AddRange([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30)]);
foreach (var topic in delay.RequiredTopics())
{
    kafka.CreateTopic(topic, 3);
}

using var host = builder.Build();
await host.StartAsync();
var orders = host.Services.GetRequiredService<Orders>();
var time = host.Services.GetRequiredService<TimeProvider>();

// snippet: delayed-delivery-schedule
var scheduler = host.Services.GetRequiredService<IMessageScheduler<string, PaymentDeadline>>();
var deadlines = new Dictionary<string, ScheduleResult>();
for (var i = 1; i <= 6; i++)
{
    var orderId = $"order-{i}";
    orders.Place(orderId);
    deadlines[orderId] = await scheduler.ScheduleAsync("payment-deadlines", orderId, new PaymentDeadline(orderId, time.GetUtcNow()), deadline);
}

await Task.Delay(TimeSpan.FromSeconds(2));
foreach (var orderId in new[] { "order-1", "order-3", "order-5" })
{
    orders.Pay(orderId);
    var cancellation = await scheduler.CancelAsync(deadlines[orderId].ScheduleId);
    Console.WriteLine($"{orderId}: paid, its deadline {cancellation}");
}
// end snippet

Console.WriteLine($"Waiting for the deadlines ({deadline.TotalSeconds:F0} s after each order)...");
var until = time.GetUtcNow() + deadline + TimeSpan.FromSeconds(10);
while (orders.Status.Values.Count(s => s == "cancelled") < 3 && time.GetUtcNow() < until)
{
    await Task.Delay(200);
}

await Task.Delay(TimeSpan.FromSeconds(2)); // room for a wrong delivery of a cancelled deadline to show
await host.StopAsync();

foreach (var (orderId, status) in orders.Status.OrderBy(o => o.Key, StringComparer.Ordinal))
{
    Console.WriteLine($"{orderId}: {status}");
}

var expected = orders.Status.All(o => o.Value == (int.Parse(o.Key["order-".Length..], System.Globalization.CultureInfo.InvariantCulture) % 2 == 1 ? "paid" : "cancelled"));
Console.WriteLine(expected ? "PASSED: unpaid orders were cancelled at their deadline, paid ones kept." : "FAILED: see above.");
return expected ? 0 : 1;
