using System.Globalization;
using Confluent.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;
using ReliableKafka;

namespace OrderProcessing;

/// <summary>
/// Produces orders through the reliable producer, waits until the handler processed them, stops the host
/// (which commits and leaves the group), and checks the result: everything acknowledged, everything processed
/// exactly once, every customer's orders processed in the order they were placed, committed offsets at the end.
/// </summary>
public static class Demo
{
    public static readonly IDictionary<string, string> CommandLineSwitches = new Dictionary<string, string>
    {
        ["--bootstrap-servers"] = $"{ReliableKafkaOptions.SectionName}:BootstrapServers",
        ["--orders"] = "Demo:Orders",
        ["--customers"] = "Demo:Customers",
        ["--partitions"] = "Demo:Partitions",
    };

    public static async Task<int> RunAsync(IHost host, DemoKafka kafka)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(kafka);
        var demo = host.Services.GetRequiredService<IConfiguration>().GetSection("Demo").Get<DemoOptions>() ?? new DemoOptions();
        var groupId = host.Services.GetRequiredService<IOptions<ReliableKafkaOptions>>().Value.Consumers["orders"].GroupId!;
        var ledger = host.Services.GetRequiredService<OrderLedger>();
        var runId = Guid.NewGuid().ToString("N")[..8];

        Console.WriteLine($"ReliableKafka order demo: {demo.Orders} orders from {demo.Customers} customers to '{kafka.Topic}' on the {kafka.Description}");
        await host.StartAsync();

        var checkout = host.Services.GetRequiredService<Checkout>();
        var sends = new List<Task<ProduceResult>>(demo.Orders);
        var sequences = new int[demo.Customers];
        for (var i = 0; i < demo.Orders; i++)
        {
            var customer = i % demo.Customers;
            var order = new OrderPlaced($"{runId}-{i}", $"customer-{customer:D3}", sequences[customer]++, 10 + (i % 90), runId);
            sends.Add(checkout.PlaceAsync(kafka.Topic, order));
        }

        var acknowledged = await Task.WhenAll(sends);
        var processed = await WaitForAsync(ledger, runId, demo.Orders, demo.Timeout);
        await host.StopAsync();

        return Report(kafka, groupId, demo, acknowledged, processed);
    }

    /// <summary>
    /// Serves the dashboard while orders keep coming (about 50 a second, one in forty without an amount, which fails into
    /// the dead-letter topic) until Ctrl+C.
    /// </summary>
    public static async Task<int> RunWithDashboardAsync(WebApplication app, DemoKafka kafka)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(kafka);
        var demo = app.Services.GetRequiredService<IConfiguration>().GetSection("Demo").Get<DemoOptions>() ?? new DemoOptions();
        var stopping = app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        await app.StartAsync();
        var address = app.Urls.FirstOrDefault() ?? "http://localhost:5000";
        Console.WriteLine($"ReliableKafka order demo on the {kafka.Description}: orders keep coming; dashboard at {address.TrimEnd('/')}/kafka/ (Ctrl+C stops)");

        var checkout = app.Services.GetRequiredService<Checkout>();
        var runId = Guid.NewGuid().ToString("N")[..8];
        var sequences = new int[demo.Customers];
        try
        {
            for (var i = 0; !stopping.IsCancellationRequested; i++)
            {
                var customer = i % demo.Customers;
                var amount = i % 40 == 39 ? 0 : 10 + (i % 90);
                await checkout.PlaceAsync(kafka.Topic, new OrderPlaced($"{runId}-{i}", $"customer-{customer:D3}", sequences[customer]++, amount, runId), stopping);
                await Task.Delay(20, stopping);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }

        await app.StopAsync();
        return 0;
    }

    private static async Task<List<ProcessedOrder>> WaitForAsync(OrderLedger ledger, string runId, int count, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (!deadline.IsCancellationRequested && ledger.Processed.Count(p => p.Order.RunId == runId) < count)
        {
            await Task.Delay(50);
        }

        return [.. ledger.Processed.Where(p => p.Order.RunId == runId)];
    }

    private static int Report(DemoKafka kafka, string groupId, DemoOptions demo, ProduceResult[] acknowledged, List<ProcessedOrder> processed)
    {
        var persisted = acknowledged.Count(r => r.Status == PersistenceStatus.Persisted);
        var distinct = processed.Select(p => p.Order.OrderId).Distinct().Count();
        var twice = processed.Count - distinct;
        var outOfOrder = processed
            .GroupBy(p => p.Order.CustomerId)
            .Where(g => !g.Select(p => p.Order.Sequence).SequenceEqual(Enumerable.Range(0, g.Count())))
            .Select(g => g.Key)
            .ToList();
        var (committed, end) = ReadOffsets(kafka, groupId);
        var partitionsBehind = committed.Where(c => c.Value != end[c.Key]).Select(c => c.Key).ToList();

        var checks = new List<(string Name, bool Ok, string Detail)>
        {
            ("acknowledged", persisted == demo.Orders, $"{persisted} of {demo.Orders} orders acknowledged by the brokers (acks=all, idempotent)"),
            ("processed", distinct == demo.Orders, $"{distinct} of {demo.Orders} orders processed"),
            ("no duplicates", twice == 0, $"{twice} orders processed more than once"),
            ("per-key order", outOfOrder.Count == 0, outOfOrder.Count == 0
                ? $"each of {demo.Customers} customers' orders processed in the order placed"
                : $"out of order for {string.Join(", ", outOfOrder)}"),
            ("committed offsets", partitionsBehind.Count == 0, partitionsBehind.Count == 0
                ? "every partition committed up to its end"
                : $"partitions {string.Join(", ", partitionsBehind)} committed below their end"),
        };

        Console.WriteLine();
        Console.WriteLine("Committed offsets (partition: committed / end):");
        foreach (var (partition, offset) in committed.OrderBy(c => c.Key))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {partition}: {offset} / {end[partition]}"));
        }

        Console.WriteLine();
        foreach (var (name, ok, detail) in checks)
        {
            Console.WriteLine($"  [{(ok ? "ok" : "FAILED")}] {name}: {detail}");
        }

        var passed = checks.All(c => c.Ok);
        Console.WriteLine();
        Console.WriteLine(passed ? "Demo passed." : "Demo FAILED.");
        return passed ? 0 : 1;
    }

    private static (Dictionary<int, long> Committed, Dictionary<int, long> End) ReadOffsets(DemoKafka kafka, string groupId)
    {
        var config = new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = groupId, EnableAutoCommit = false };
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers }).Build();
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(config).Build();
        var partitions = admin.GetMetadata(kafka.Topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions
            .Select(p => new TopicPartition(kafka.Topic, p.PartitionId))
            .ToList();
        var committed = consumer.Committed(partitions, TimeSpan.FromSeconds(10))
            .ToDictionary(c => c.Partition.Value, c => c.Offset == Offset.Unset ? 0 : c.Offset.Value);
        var end = partitions.ToDictionary(p => p.Partition.Value, p => consumer.QueryWatermarkOffsets(p, TimeSpan.FromSeconds(10)).High.Value);
        return (committed, end);
    }
}
