using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Npgsql;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Deduplication;
using ReliableKafka.TestSupport;
using ReliableKafka.IntegrationTests.Infrastructure;
using ReliableKafka.PostgreSql;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Deduplication;

/// <summary>The idempotent consumer end to end: the embedded cluster, and real SQLite and PostgreSQL stores.</summary>
public sealed class IdempotentConsumerTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestKafka _kafka = TestKafka.Start();
    private readonly HandlerProbe _probe = new();
    private readonly string _sqlitePath = Path.Combine(Path.GetTempPath(), $"reliablekafka-it-{Guid.NewGuid():N}.db");

    public void Dispose()
    {
        _kafka.Dispose();
        SqliteConnection.ClearAllPools();
        foreach (var file in new[] { _sqlitePath, _sqlitePath + "-wal", _sqlitePath + "-shm" })
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task ProducerResendsWithTheSameId_HandlerRunsOnceAndOneDuplicateIsCounted()
    {
        var topic = _kafka.CreateTopic("resend", 1);
        var group = TestKafka.Unique("group");
        using var suppressed = new CounterProbe("reliablekafka.consumer.duplicates_suppressed", group);
        using (var producer = KafkaClients.Producer(_kafka.BootstrapServers))
        {
            foreach (var (id, value) in new[] { ("id-1", "a"), ("id-2", "b"), ("id-1", "a") })
            {
                await producer.ProduceAsync(topic, new Message<string, string>
                {
                    Key = "k",
                    Value = value,
                    Headers = new Headers { { ReliableKafkaHeaders.MessageId, Encoding.UTF8.GetBytes(id) } },
                });
            }
        }

        using var host = TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, _probe, configureKafka: k => k.UseInMemoryDeduplication());
        await host.StartAsync();
        await Eventually.UntilAsync(() => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0] == 3, "all three records are committed");
        await host.StopAsync();

        _probe.Handled.Select(r => r.MessageId).Should().Equal("id-1", "id-2");
        suppressed.Total.Should().Be(1);
    }

    [Fact]
    public async Task DeduplicationTurnedOffForTheConsumer_HandlesTheSameIdAgain()
    {
        var topic = _kafka.CreateTopic("opt-out", 1);
        var group = TestKafka.Unique("group");
        using (var producer = KafkaClients.Producer(_kafka.BootstrapServers))
        {
            for (var i = 0; i < 2; i++)
            {
                await producer.ProduceAsync(topic, new Message<string, string>
                {
                    Key = "k",
                    Value = "a",
                    Headers = new Headers { { ReliableKafkaHeaders.MessageId, "id-1"u8.ToArray() } },
                });
            }
        }

        using var host = TestHost.BuildConsumer(
            output, _kafka.BootstrapServers, topic, group, _probe, o => o.Deduplication.Enabled = false, k => k.UseInMemoryDeduplication());
        await host.StartAsync();
        await Eventually.UntilAsync(() => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0] == 2, "both records are committed");
        await host.StopAsync();

        _probe.Handled.Should().HaveCount(2, "this consumer opted out of the store");
    }

    [Fact]
    public async Task RedeliveryAfterAConsumerCrash_SqliteStoreOnTheSameFile_SideEffectsRecordedOnce()
    {
        const int Count = 40;
        var topic = _kafka.CreateTopic("crash", 2);
        var group = TestKafka.Unique("group");
        using var suppressed = new CounterProbe("reliablekafka.consumer.duplicates_suppressed", group);
        await ProduceAsync(topic, Count);
        IHost Member(TimeSpan commitInterval) => TestHost.BuildConsumer(
            output, _kafka.BootstrapServers, topic, group, _probe,
            o => o.CommitInterval = commitInterval,
            k => k.UseSqliteDeduplication($"Data Source={_sqlitePath}"));

        var first = Member(TimeSpan.FromHours(1));
        await first.StartAsync();
        await Eventually.UntilAsync(() => _probe.Handled.Count == Count, "the first member handles every record");
        await Engine(first)!.CrashAsync();
        first.Dispose();
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2).Values.Should().OnlyContain(v => v < 0, "the crash came before any commit");

        using var second = Member(TimeSpan.FromMilliseconds(200));
        await second.StartAsync();
        await Eventually.UntilAsync(
            () => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2).Values.Sum() == Count,
            "the second member gets every record again and commits it");
        await second.StopAsync();

        _probe.Handled.Should().HaveCount(Count, "the redelivered records were processed before and are not handled again");
        suppressed.Total.Should().Be(Count);
    }

    [Fact]
    public async Task PostgreSqlStoreOnTheApplicationsDataSource_DeduplicatesAndLeavesTheDataSourceOpen()
    {
        var topic = _kafka.CreateTopic("data-source", 1);
        var group = TestKafka.Unique("group");
        var options = TestPostgreSql.UniqueTable();
        await using var dataSource = Npgsql.NpgsqlDataSource.Create(options.ConnectionString!);
        using (var producer = KafkaClients.Producer(_kafka.BootstrapServers))
        {
            for (var i = 0; i < 2; i++)
            {
                await producer.ProduceAsync(topic, new Message<string, string>
                {
                    Key = "order-9",
                    Value = "paid",
                    Headers = new Headers { { ReliableKafkaHeaders.MessageId, "same-id"u8.ToArray() } },
                });
            }
        }

        using (var host = TestHost.BuildConsumer(
            output, _kafka.BootstrapServers, topic, group, _probe, configureKafka: k =>
            {
                k.Services.AddSingleton(dataSource);
                k.UsePostgreSqlDeduplication((o, sp) =>
                {
                    o.DataSource = sp.GetRequiredService<Npgsql.NpgsqlDataSource>();
                    o.Schema = options.Schema;
                    o.TableName = options.TableName;
                });
            }))
        {
            await host.StartAsync();
            await Eventually.UntilAsync(() => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0] == 2, "both copies are committed");
            await host.StopAsync();
        }

        _probe.Handled.Should().ContainSingle("the second copy carries the same message id");
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var command = new Npgsql.NpgsqlCommand($"SELECT count(*) FROM {options.Schema}.{options.TableName} WHERE completed_at IS NOT NULL", connection);
        (await command.ExecuteScalarAsync()).Should().Be(1L, "the store wrote through the application's data source, which it did not dispose");
    }

    [Fact]
    public async Task TwoMembersRacingForTheSameId_ExactlyOneRunsTheHandler()
    {
        var topic = _kafka.CreateTopic("race", 2);
        var group = TestKafka.Unique("group");
        var options = TestPostgreSql.UniqueTable();
        _probe.Behavior = async (_, token) => await Task.Delay(500, token);
        IHost Member() => TestHost.BuildConsumer(
            output, _kafka.BootstrapServers, topic, group, _probe, configureKafka: k => k.UsePostgreSqlDeduplication(o =>
            {
                o.ConnectionString = options.ConnectionString;
                o.Schema = options.Schema;
                o.TableName = options.TableName;
            }));
        using var a = Member();
        using var b = Member();
        await a.StartAsync();
        await b.StartAsync();
        await Eventually.UntilAsync(() => Engine(a)?.Assignment.Count == 1 && Engine(b)?.Assignment.Count == 1, "each member owns one partition");

        using (var producer = KafkaClients.Producer(_kafka.BootstrapServers))
        {
            foreach (var partition in new[] { 0, 1 })
            {
                await producer.ProduceAsync(new TopicPartition(topic, partition), new Message<string, string>
                {
                    Key = "order-7",
                    Value = "paid",
                    Headers = new Headers { { ReliableKafkaHeaders.MessageId, "same-id"u8.ToArray() } },
                });
            }
        }

        await Eventually.UntilAsync(() => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2).Values.Sum() == 2, "both copies are committed");
        await Task.WhenAll(a.StopAsync(), b.StopAsync());

        _probe.Attempts.Should().ContainSingle("one member ran the handler; the other waited for its claim and found it processed");
    }

    [Fact]
    public async Task PostgreSqlInbox_CrashBetweenTheHandlersWriteAndTheKafkaCommit_EachRowWrittenOnce()
    {
        const int Count = 20;
        var topic = _kafka.CreateTopic("inbox", 2);
        var group = TestKafka.Unique("group");
        var options = TestPostgreSql.UniqueTable(inbox: true);
        var effects = $"{options.Schema}.effects_{options.TableName}";
        await TestPostgreSql.ExecuteAsync($"CREATE SCHEMA IF NOT EXISTS {options.Schema}; CREATE TABLE {effects} (order_id text NOT NULL)");
        await ProduceAsync(topic, Count);

        // The first member writes every row; record 7's handler then hangs before its transaction commits.
        var crashing = true;
        var hanging = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        IHost Member(TimeSpan commitInterval) => InboxHost(
            options,
            topic,
            group,
            new InboxScript(effects, async (context, _, token) =>
            {
                if (crashing && context.Value == "7")
                {
                    hanging.TrySetResult();
                    await Task.Delay(Timeout.Infinite, token);
                }
            }),
            o =>
            {
                o.CommitInterval = commitInterval;

                // A crash leaves record 7's claim behind (a killed process releases nothing): it expires.
                o.Deduplication.LeaseDuration = TimeSpan.FromSeconds(3);
            });

        var first = Member(TimeSpan.FromHours(1));
        await first.StartAsync();
        await Eventually.UntilAsync(
            () => hanging.Task.IsCompleted && TestPostgreSql.ScalarAsync($"SELECT count(*) FROM {effects}").GetAwaiter().GetResult() == Count - 1,
            "every row is committed but record 7's, whose handler hangs after its write");
        await Engine(first)!.CrashAsync();
        first.Dispose();
        crashing = false;

        using var second = Member(TimeSpan.FromMilliseconds(200));
        await second.StartAsync();
        await Eventually.UntilAsync(
            () => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 2).Values.Sum() == Count,
            "the second member gets every record again and commits it");
        await second.StopAsync();

        (await TestPostgreSql.ScalarAsync($"SELECT count(*) FROM {effects}")).Should().Be(Count);
        (await TestPostgreSql.ScalarAsync($"SELECT count(DISTINCT order_id) FROM {effects}")).Should().Be(Count, "no row was written twice");
    }

    [Theory]
    [InlineData("handler swallows its own SQL error", 2)]
    [InlineData("deferred unique constraint fails at commit", 2)]
    [InlineData("handler rolls back the transaction itself", 1)]
    [InlineData("handler disposes the transaction itself", 1)]
    [InlineData("handler commits the transaction itself", 1)]
    public async Task PostgreSqlInbox_TransactionFailsBecauseOfTheHandlersData_RetriedThenDeadLetteredNotTakenForAnOutage(string failure, int attempts)
    {
        const int Count = 6;
        var topic = _kafka.CreateTopic("inbox-data", 1);
        _kafka.CreateNamedTopic(topic + DeadLetterOptions.DefaultTopicSuffix, 1);
        var group = TestKafka.Unique("group");
        var options = TestPostgreSql.UniqueTable(inbox: true);
        var effects = $"{options.Schema}.effects_{options.TableName}";
        var deferred = failure.StartsWith("deferred", StringComparison.Ordinal);
        await TestPostgreSql.ExecuteAsync(deferred
            ? $"CREATE SCHEMA IF NOT EXISTS {options.Schema}; CREATE TABLE {effects} (order_id text NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED); INSERT INTO {effects} VALUES ('3')"
            : $"CREATE SCHEMA IF NOT EXISTS {options.Schema}; CREATE TABLE {effects} (order_id text NOT NULL)");
        await ProduceAsync(topic, Count);
        using var host = InboxHost(
            options,
            topic,
            group,
            new InboxScript(effects, async (context, inbox, token) =>
            {
                if (failure.StartsWith("handler rolls back", StringComparison.Ordinal) && context.Value == "3")
                {
                    await inbox.Transaction.RollbackAsync(token);
                }
                else if (failure.StartsWith("handler disposes", StringComparison.Ordinal) && context.Value == "3")
                {
                    await inbox.Transaction.DisposeAsync();
                }
                else if (failure.StartsWith("handler commits", StringComparison.Ordinal) && context.Value == "3")
                {
                    // Its write is committed: another attempt would write it again, so none is made.
                    await inbox.Transaction.CommitAsync(token);
                }
                else if (!deferred && context.Value == "3")
                {
                    // The handler's own statement fails and it carries on: its transaction is aborted (25P02 at completion).
                    await using var bad = new NpgsqlCommand("SELECT 1 / 0", inbox.Connection, inbox.Transaction);
                    try
                    {
                        await bad.ExecuteNonQueryAsync(token);
                    }
                    catch (PostgresException)
                    {
                    }
                }
            }),
            o =>
            {
                o.Retry.MaxAttempts = 2;
                o.Retry.InitialDelay = TimeSpan.FromMilliseconds(10);
            },
            services => services.AddHealthChecks().AddReliableKafka());

        await host.StartAsync();
        await Eventually.UntilAsync(
            () => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0] == Count,
            "every record is committed: the failing one after it was dead-lettered");
        var health = await host.Services.GetRequiredService<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService>().CheckHealthAsync();
        await host.StopAsync();

        var dead = KafkaClients.ReadAll(_kafka.BootstrapServers, topic + DeadLetterOptions.DefaultTopicSuffix, 1);
        dead.Select(d => d.Message.Value).Should().Equal("3");
        _probe.Attempts.Count(a => a.Value == "3").Should().Be(attempts, attempts == 1
            ? "a handler that ended the transaction itself is not tried again (what it committed would be written twice)"
            : "the handler ran its attempts, then the failure policy applied: no endless wait");
        health.Status.Should().Be(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, "the database was up all along: no store failure is reported");
        (await TestPostgreSql.ScalarAsync($"SELECT count(*) FROM {effects} WHERE order_id <> '3'")).Should().Be(Count - 1);
        var committedByHandler = failure.StartsWith("handler commits", StringComparison.Ordinal);
        (await TestPostgreSql.ScalarAsync($"SELECT count(*) FROM {effects} WHERE order_id = '3'")).Should().Be(
            committedByHandler || deferred ? 1 : 0,
            committedByHandler ? "the handler's own commit wrote it once, and no second attempt wrote it again" : "the failed attempts' writes were rolled back");
    }

    [Fact]
    public async Task StoreUnavailable_NothingCommittedForItsRecordsHealthDegradedAndProcessingResumesWhenItReturns()
    {
        var topic = _kafka.CreateTopic("outage", 1);
        var group = TestKafka.Unique("group");
        var store = new FlakyStore(new InMemoryDeduplicationStore());
        await ProduceAsync(topic, 5);
        using var host = TestHost.BuildConsumer(
            output, _kafka.BootstrapServers, topic, group, _probe,
            configureKafka: k =>
            {
                k.UseDeduplicationStore<FlakyStore, InMemoryDeduplicationOptions>("Flaky", (_, _) => store);
                k.Services.AddHealthChecks().AddReliableKafka();
            });
        await host.StartAsync();
        await Eventually.UntilAsync(() => _probe.Handled.Count == 5, "the records are handled");
        await Eventually.UntilAsync(() => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0] == 5, "and committed");

        store.Down = true;
        await ProduceAsync(topic, 5);
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var report = await Eventually.UntilAsync(
            () => health.CheckHealthAsync().GetAwaiter().GetResult() is { Status: HealthStatus.Degraded } r ? r : null,
            "the health check reports the store outage");
        report.Entries.Values.Single().Description.Should().Contain("wait for the deduplication store");
        await Task.Delay(500);
        _probe.Handled.Should().HaveCount(5, "no record is handled while the store is down");
        KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0].Should().Be(5, "nothing is committed for the waiting records");

        store.Down = false;
        await Eventually.UntilAsync(() => KafkaClients.Committed(_kafka.BootstrapServers, group, topic, 1)[0] == 10, "processing resumes");
        (await health.CheckHealthAsync()).Status.Should().Be(HealthStatus.Healthy);
        await host.StopAsync();
        _probe.Handled.Should().HaveCount(10);
    }

    /// <summary>A host with one consumer (<c>test</c>) deduplicating with the PostgreSQL store as a transactional inbox.</summary>
    private IHost InboxHost(
        PostgreSqlDeduplicationOptions options, string topic, string group, InboxScript script, Action<ConsumerOptions> configure, Action<IServiceCollection>? alsoAdd = null) =>
        TestHost.Build(output, services =>
        {
            services.AddSingleton(_probe);
            services.AddSingleton(script);
            services.AddReliableKafka(o => o.BootstrapServers = _kafka.BootstrapServers)
                .UsePostgreSqlDeduplication(o =>
                {
                    o.ConnectionString = options.ConnectionString;
                    o.Schema = options.Schema;
                    o.TableName = options.TableName;
                    o.TransactionalInbox = true;
                })
                .AddConsumer<string, string, InboxHandler>("test", o =>
                {
                    o.GroupId = group;
                    o.Topics.Add(topic);
                    o.DeliveryGuarantee = DeliveryGuarantee.ExactlyOnce;
                    TestHost.FastGroup(o);
                    configure(o);
                });
            alsoAdd?.Invoke(services);
        });

    private static ConsumerEngine? Engine(IHost host) =>
        host.Services.GetServices<IHostedService>().OfType<IReliableConsumerService>().Single().Engine;

    private async Task ProduceAsync(string topic, int count)
    {
        using var producer = KafkaClients.Producer(_kafka.BootstrapServers);
        for (var i = 0; i < count; i++)
        {
            await producer.ProduceAsync(topic, new Message<string, string>
            {
                Key = $"key-{i}",
                Value = i.ToString(CultureInfo.InvariantCulture),
                Headers = new Headers { { ReliableKafkaHeaders.MessageId, Encoding.UTF8.GetBytes(Guid.NewGuid().ToString("N")) } },
            });
        }
    }

    /// <summary>What the inbox handler does after its write, and the table it writes to.</summary>
    private sealed record InboxScript(string Table, Func<MessageContext<string, string>, PostgreSqlInbox, CancellationToken, Task> AfterWrite);

    /// <summary>Writes one row per record in the inbox transaction, then runs the script (which may hang).</summary>
    private sealed class InboxHandler(PostgreSqlInbox inbox, InboxScript script, HandlerProbe probe) : IMessageHandler<string, string>
    {
        public async Task HandleAsync(MessageContext<string, string> context, CancellationToken cancellationToken)
        {
            await using (var insert = new NpgsqlCommand($"INSERT INTO {script.Table} (order_id) VALUES ($1)", inbox.Connection, inbox.Transaction))
            {
                insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = context.Value });
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }

            await script.AfterWrite(context, inbox, cancellationToken);
            await probe.HandleAsync(context, cancellationToken);
        }
    }
}
