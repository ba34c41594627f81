using System.Globalization;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace ReliableKafka.Perf;

/// <summary>What the dedup command runs: the stores, and how many records each reads per round.</summary>
internal sealed record DedupSettings(IReadOnlyList<string> Stores, int InMemoryRecords, int DurableRecords, int RecordSize, int Partitions, int Keys, string? PostgreSql);

/// <summary>
/// The consume benchmark with a deduplication store and without one, alternating in the same run: each record
/// carries a message id header, and with a store each is claimed and completed (a new consumer group per round,
/// so nothing is suppressed). Records are keyed (like most real topics), so that Key mode runs many of them at
/// once and the durable stores can batch their concurrent claims and completions. The ratio is the store's cost.
/// </summary>
internal static class DedupBenchmark
{
    public const string InMemory = "inmemory";
    public const string Sqlite = "sqlite";
    public const string PostgreSql = "postgresql";

    public static async Task<Comparison> RunAsync(PerfCluster cluster, string store, DedupSettings dedup, int rounds)
    {
        var records = store == InMemory ? dedup.InMemoryRecords : dedup.DurableRecords;
        var settings = new ConsumeSettings(records, dedup.RecordSize, dedup.Partitions);
        var topic = cluster.CreateTopic(null, $"perf-dedup-{store}", settings.Partitions);
        Console.WriteLine($"dedup {store}: filling '{topic}' with {records} records ({dedup.RecordSize} B, a message id each, {dedup.Keys} keys) over {settings.Partitions} partitions, then {rounds} round(s) with the store alternating with none");
        ConsumeBenchmark.Fill(cluster, topic, settings, withMessageIds: true, keys: dedup.Keys);
        var sqlitePath = Path.Combine(Path.GetTempPath(), $"reliablekafka-perf-{Guid.NewGuid():N}.db");
        var table = $"perf_{Guid.NewGuid():N}"[..20];
        try
        {
            Action<IReliableKafkaBuilder> useStore = store switch
            {
                InMemory => k => k.UseInMemoryDeduplication(),
                Sqlite => k => k.UseSqliteDeduplication($"Data Source={sqlitePath}"),
                PostgreSql => k => k.UsePostgreSqlDeduplication(o =>
                {
                    o.ConnectionString = dedup.PostgreSql ?? throw new InvalidOperationException(
                        "dedup postgresql needs a server: set RELIABLEKAFKA_POSTGRESQL or --postgresql (./build.sh bench provisions one).");
                    o.Schema = "reliablekafka_perf";
                    o.TableName = table;
                }),
                _ => throw new ArgumentException($"Unknown store '{store}'; use {InMemory}, {Sqlite} or {PostgreSql}.", nameof(store)),
            };

            var comparison = new Comparison("dedup", $"dedup {store}", "with", "without");
            string[] clients = ["with", "without"];
            for (var round = 0; round <= rounds; round++)
            {
                foreach (var client in clients.Skip(round % 2).Concat(clients.Take(round % 2)))
                {
                    var run = await ConsumeBenchmark.RunReliableAsync(cluster, topic, settings, round, client, client == "with" ? useStore : null);
                    Console.WriteLine($"  {(round == 0 ? "warm-up" : $"round {round}")} {run.Client,-8} {run.Describe()}");
                    if (round > 0)
                    {
                        comparison.Add(run.Client, run.RecordsPerSecond, run);
                    }
                }
            }

            return comparison;
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            foreach (var file in new[] { sqlitePath, sqlitePath + "-wal", sqlitePath + "-shm" })
            {
                File.Delete(file);
            }

            if (store == PostgreSql && dedup.PostgreSql is { } connectionString)
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync();
                await using var drop = new NpgsqlCommand(string.Create(CultureInfo.InvariantCulture, $"DROP TABLE IF EXISTS reliablekafka_perf.{table}"), connection);
                await drop.ExecuteNonQueryAsync();
            }
        }
    }
}
