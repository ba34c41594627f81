using System.Collections.Concurrent;
using Confluent.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ReliableKafka.Testing;

namespace ReliableKafka.Dashboard.Tests;

/// <summary>An ASP.NET Core app as a user would write it: a consumer on the embedded cluster, and the dashboard mapped.</summary>
internal sealed class DashboardApp : IAsyncDisposable
{
    private readonly WebApplication _app;

    private DashboardApp(WebApplication app, EmbeddedKafkaCluster cluster, string topic)
    {
        _app = app;
        Cluster = cluster;
        Topic = topic;
    }

    public EmbeddedKafkaCluster Cluster { get; }

    public string Topic { get; }

    public string BaseAddress { get; private set; } = string.Empty;

    public IServiceProvider Services => _app.Services;

    public static async Task<DashboardApp> StartAsync(
        Action<WebApplicationBuilder>? configureBuilder = null,
        Action<WebApplication>? map = null,
        int partitions = 2,
        Action<ConsumerOptions>? consumer = null)
    {
        var cluster = new EmbeddedKafkaCluster();
        var topic = $"orders-{Guid.NewGuid():N}"[..20];
        cluster.CreateTopic(topic, partitions);
        cluster.CreateTopic(topic + ".dlt", 1);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton<HandledRecords>();
        builder.Services.AddReliableKafka(o => o.BootstrapServers = cluster.BootstrapServers)
            .AddProducer<string, string>()
            .AddConsumer<string, string, RecordingHandler>("orders", o =>
            {
                o.GroupId = "dashboard-" + Guid.NewGuid().ToString("N")[..8];
                o.Topics.Add(topic);
                o.SessionTimeout = TimeSpan.FromSeconds(3);
                o.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
                o.CommitInterval = TimeSpan.FromMilliseconds(200);
                o.Retry.MaxAttempts = 1;
                consumer?.Invoke(o);
            });
        configureBuilder?.Invoke(builder);
        var app = builder.Build();
        try
        {
            if (map is null)
            {
                app.MapReliableKafkaDashboard("/kafka", o => o.RefreshInterval = TimeSpan.FromMilliseconds(500));
            }
            else
            {
                map(app);
            }
        }
        catch
        {
            await app.DisposeAsync();
            cluster.Dispose();
            throw;
        }

        var dashboard = new DashboardApp(app, cluster, topic);
        await app.StartAsync();
        dashboard.BaseAddress = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return dashboard;
    }

    public async Task ProduceAsync(int count, int partition, string? value = null)
    {
        var producer = Services.GetRequiredService<IReliableProducer<string, string>>();
        for (var i = 0; i < count; i++)
        {
            // Keys chosen per partition by the test; the default partitioner spreads them.
            await producer.ProduceAsync(Topic, new Message<string, string> { Key = $"p{partition}-k{i}", Value = value ?? $"v{i}" });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Cluster.Dispose();
    }

    /// <summary>What the handler saw.</summary>
    internal sealed class HandledRecords
    {
        public ConcurrentQueue<(int Partition, long Offset)> Records { get; } = new();

        public Func<string, bool>? Fail { get; set; }

        public string FailMessage { get; set; } = "refused by the test";
    }

    private sealed class RecordingHandler(HandledRecords handled) : IMessageHandler<string, string>
    {
        public Task HandleAsync(MessageContext<string, string> context, CancellationToken cancellationToken)
        {
            if (handled.Fail?.Invoke(context.Value) == true)
            {
                throw new InvalidOperationException(handled.FailMessage);
            }

            handled.Records.Enqueue((context.Partition.Value, context.Offset.Value));
            return Task.CompletedTask;
        }
    }
}
