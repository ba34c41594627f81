using Microsoft.AspNetCore.Builder;
using OrderProcessing;
using ReliableKafka;

// --dashboard: run as an ASP.NET Core app that keeps placing orders and serves the dashboard at /kafka/.
var dashboard = args.Contains("--dashboard");
args = [.. args.Where(a => a != "--dashboard")];
IHostApplicationBuilder builder = dashboard
    ? WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory })
    : Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
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

if (dashboard)
{
    await using var app = ((WebApplicationBuilder)builder).Build();
    // A local demo: the actions are on. In production, turn them on only behind RequireAuthorization.
    app.MapReliableKafkaDashboard("/kafka", o => (o.AllowPause, o.AllowRedrive) = (true, true));
    return await Demo.RunWithDashboardAsync(app, kafka);
}

using var host = ((HostApplicationBuilder)builder).Build();
return await Demo.RunAsync(host, kafka);
