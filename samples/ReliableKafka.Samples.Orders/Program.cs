using OrderProcessing;
using ReliableKafka;

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.AddCommandLine(args, Demo.CommandLineSwitches);

// With no bootstrap servers configured, the demo starts an embedded Kafka cluster (ReliableKafka.Testing).
await using var kafka = DemoKafka.Start(builder.Configuration);

builder.Services.AddReliableKafka(builder.Configuration.GetSection(ReliableKafkaOptions.SectionName))
    .AddProducer<string, OrderPlaced>()
    .AddConsumer<string, OrderPlaced, OrderPlacedHandler>("orders")

    // The idempotent consumer: an order seen before (a redelivery, or the same order placed twice) is not handled again.
    .UseInMemoryDeduplication()
    .UseMessageIdSelector<string, OrderPlaced>("orders", context => context.Value.OrderId);
builder.Services.AddSingleton<Checkout>();
builder.Services.AddSingleton<OrderLedger>();

using var host = builder.Build();
return await Demo.RunAsync(host, kafka);
