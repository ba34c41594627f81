using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using QuickStart;
using ReliableKafka;

var builder = Host.CreateApplicationBuilder(args);

// The ReliableKafka section of appsettings.json: the brokers, the guarantee, and the consumer's group and topics.
builder.Services.AddReliableKafka(builder.Configuration.GetSection(ReliableKafkaOptions.SectionName))
    .AddProducer<string, OrderPlaced>()
    .AddConsumer<string, OrderPlaced, OrderPlacedHandler>("order-processing");

using var host = builder.Build();
await host.StartAsync();

// Place a few orders; the consumer handles them in the background, each customer's in the order they were placed.
var producer = host.Services.GetRequiredService<IReliableProducer<string, OrderPlaced>>();
for (var i = 1; i <= 5; i++)
{
    var result = await producer.ProduceAsync("orders", "customer-42", new OrderPlaced($"order-{i}", 10m * i));
    Console.WriteLine($"Placed order-{i}: {result.Topic} [{result.Partition.Value}] @{result.Offset.Value}");
}

// Ctrl+C stops the host: the consumer commits what it handled and leaves its group; the producer flushes.
await host.WaitForShutdownAsync();
