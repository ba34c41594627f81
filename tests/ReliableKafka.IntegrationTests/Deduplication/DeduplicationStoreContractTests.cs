using ReliableKafka.Deduplication;
using ReliableKafka.IntegrationTests.Infrastructure;
using ReliableKafka.PostgreSql;
using ReliableKafka.Sqlite;

namespace ReliableKafka.IntegrationTests.Deduplication;

/// <summary>What every deduplication store promises, run against each store (PostgreSQL: a real server).</summary>
public abstract class DeduplicationStoreContractTests : IAsyncLifetime
{
    private static readonly TimeSpan LongLease = TimeSpan.FromMinutes(5);
    private readonly List<IDeduplicationStore> _stores = [];

    /// <summary>Creates a store; a second call gives another instance on the same data (another process, say).</summary>
    protected abstract IDeduplicationStore CreateStore(TimeSpan retention);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            if (store is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Claim_NewMessage_IsClaimed()
    {
        var store = Store();

        (await store.ClaimAsync(Key(), Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.Claimed);
    }

    [Fact]
    public async Task Complete_ByOwner_LaterClaimsFindItAlreadyProcessedAndCompletingAgainSucceeds()
    {
        var store = Store();
        var key = Key();
        var owner = Guid.NewGuid();
        await store.ClaimAsync(key, owner, LongLease);

        (await store.CompleteAsync(key, owner)).Should().BeTrue();
        (await store.CompleteAsync(key, owner)).Should().BeTrue("completing is idempotent");
        (await store.ClaimAsync(key, Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.AlreadyProcessed);
        (await store.ClaimAsync(key, owner, LongLease)).Status.Should().Be(ClaimStatus.AlreadyProcessed);
    }

    [Fact]
    public async Task Claim_HeldByAnotherOwnersLiveLease_InProgressElsewhereUntilReleased()
    {
        var store = Store();
        var key = Key();
        var first = Guid.NewGuid();
        await store.ClaimAsync(key, first, LongLease);

        var second = await store.ClaimAsync(key, Guid.NewGuid(), LongLease);
        second.Status.Should().Be(ClaimStatus.InProgressElsewhere);
        second.LeaseExpiresAt.Should().BeAfter(DateTimeOffset.UtcNow.AddMinutes(4));
        (await store.ClaimAsync(key, first, LongLease)).Status.Should().Be(ClaimStatus.Claimed, "the owner may claim again");

        await store.ReleaseAsync(key, first);
        (await store.ClaimAsync(key, Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.Claimed);
    }

    [Fact]
    public async Task Claim_AfterLeaseExpired_IsClaimedByAnotherAndTheFirstOwnerCannotComplete()
    {
        var store = Store();
        var key = Key();
        var crashed = Guid.NewGuid();
        await store.ClaimAsync(key, crashed, TimeSpan.FromMilliseconds(200));
        await Task.Delay(400);

        var next = Guid.NewGuid();
        (await store.ClaimAsync(key, next, LongLease)).Status.Should().Be(ClaimStatus.Claimed);
        (await store.CompleteAsync(key, crashed)).Should().BeFalse("the crashed owner lost its claim");
        (await store.CompleteAsync(key, next)).Should().BeTrue();
    }

    [Fact]
    public async Task Release_ByAnotherOwnerOrAfterCompletion_ChangesNothing()
    {
        var store = Store();
        var key = Key();
        var owner = Guid.NewGuid();
        await store.ClaimAsync(key, owner, LongLease);

        await store.ReleaseAsync(key, Guid.NewGuid());
        (await store.ClaimAsync(key, Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.InProgressElsewhere);

        await store.CompleteAsync(key, owner);
        await store.ReleaseAsync(key, owner);
        (await store.ClaimAsync(key, Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.AlreadyProcessed);
    }

    [Fact]
    public async Task Claim_SameIdInAnotherScope_IsIndependent()
    {
        var store = Store();
        var id = Guid.NewGuid().ToString("N");
        var owner = Guid.NewGuid();
        await store.ClaimAsync(new DeduplicationKey("group-a", id), owner, LongLease);
        await store.CompleteAsync(new DeduplicationKey("group-a", id), owner);

        (await store.ClaimAsync(new DeduplicationKey("group-b", id), Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.Claimed);
    }

    [Fact]
    public async Task Claim_ManyOwnersRacingOnTwoInstances_ExactlyOneWins()
    {
        var stores = new[] { Store(), Store() };
        for (var round = 0; round < 20; round++)
        {
            var key = Key();
            var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
                (await stores[i % 2].ClaimAsync(key, Guid.NewGuid(), LongLease)).Status)));

            claims.Count(c => c == ClaimStatus.Claimed).Should().Be(1, $"round {round}: {string.Join(", ", claims)}");
            claims.Where(c => c != ClaimStatus.Claimed).Should().AllBeEquivalentTo(ClaimStatus.InProgressElsewhere);
        }
    }

    [Fact]
    public async Task Complete_SeenByAnotherInstance()
    {
        var key = Key();
        var owner = Guid.NewGuid();
        var first = Store();
        await first.ClaimAsync(key, owner, LongLease);
        await first.CompleteAsync(key, owner);

        (await Store().ClaimAsync(key, Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.AlreadyProcessed);
    }

    [Fact]
    public async Task Purge_RemovesCompletedOlderThanRetentionAndKeepsRecentOnes()
    {
        var store = Store(TimeSpan.FromMilliseconds(500));
        var (old, recent, owner) = (Key(), Key(), Guid.NewGuid());
        await store.ClaimAsync(old, owner, LongLease);
        await store.CompleteAsync(old, owner);
        await Task.Delay(800);
        await store.ClaimAsync(recent, owner, LongLease);
        await store.CompleteAsync(recent, owner);

        (await store.PurgeAsync()).Should().BeGreaterThanOrEqualTo(1);

        (await store.ClaimAsync(old, Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.Claimed, "its id was forgotten");
        (await store.ClaimAsync(recent, Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.AlreadyProcessed);
    }

    [Fact]
    public async Task Renew_HeldByItsOwner_ExtendsTheLease()
    {
        var store = Store();
        var (key, owner) = (Key(), Guid.NewGuid());
        await store.ClaimAsync(key, owner, TimeSpan.FromMilliseconds(400));

        (await store.RenewAsync(key, owner, LongLease)).Should().BeTrue();
        await Task.Delay(600);

        (await store.ClaimAsync(key, Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.InProgressElsewhere, "the renewed lease has not expired");
    }

    [Fact]
    public async Task Renew_AfterReleaseCompletionOrTakeover_ChangesNothing()
    {
        var store = Store();
        var (released, completed, takenOver, owner, other) = (Key(), Key(), Key(), Guid.NewGuid(), Guid.NewGuid());
        await store.ClaimAsync(released, owner, LongLease);
        await store.ReleaseAsync(released, owner);
        await store.ClaimAsync(completed, owner, LongLease);
        await store.CompleteAsync(completed, owner);
        await store.ClaimAsync(takenOver, owner, TimeSpan.FromMilliseconds(100));
        await Task.Delay(300);
        await store.ClaimAsync(takenOver, other, LongLease);

        (await store.RenewAsync(released, owner, LongLease)).Should().BeFalse("a renewal never re-creates a released claim");
        (await store.ClaimAsync(released, other, LongLease)).Status.Should().Be(ClaimStatus.Claimed, "so the next owner claims it at once");
        (await store.RenewAsync(completed, owner, LongLease)).Should().BeFalse();
        (await store.ClaimAsync(completed, other, LongLease)).Status.Should().Be(ClaimStatus.AlreadyProcessed);
        (await store.RenewAsync(takenOver, owner, LongLease)).Should().BeFalse("the claim is another owner's now");
        (await store.CompleteAsync(takenOver, other)).Should().BeTrue();
        (await store.RenewAsync(Key(), owner, LongLease)).Should().BeFalse("a renewal never creates a claim");
    }

    [Theory]
    [InlineData("long")]
    [InlineData("nul")]
    [InlineData("surrogate")]
    public async Task HostileId_IsClaimedCompletedAndRecognisedLikeAnyOther(string kind)
    {
        var store = Store();
        var key = new DeduplicationKey("group", Hostile(kind));
        var owner = Guid.NewGuid();

        (await store.ClaimAsync(key, owner, LongLease)).Status.Should().Be(ClaimStatus.Claimed);
        (await store.RenewAsync(key, owner, LongLease)).Should().BeTrue();
        (await store.CompleteAsync(key, owner)).Should().BeTrue();
        (await store.ClaimAsync(key, Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.AlreadyProcessed);
        (await store.ClaimAsync(key with { MessageId = key.MessageId + "x" }, Guid.NewGuid(), LongLease)).Status.Should().Be(ClaimStatus.Claimed, "a different id is a different message");
    }

    [Fact]
    public async Task ClaimsBatchedWithAHostileId_AllSucceed()
    {
        var store = Store();
        var keys = Enumerable.Range(0, 50).Select(i => i == 25 ? new DeduplicationKey("group", Hostile("long")) : Key()).Append(new DeduplicationKey("group", Hostile("nul"))).ToList();

        var results = await Task.WhenAll(keys.Select(k => store.ClaimAsync(k, Guid.NewGuid(), LongLease).AsTask()));

        results.Should().OnlyContain(r => r.Status == ClaimStatus.Claimed, "no id makes the claims batched with it fail");
    }

    /// <summary>Ids a database may refuse: 10,000 characters (beyond PostgreSQL's index row limit), a NUL, a lone surrogate.</summary>
    private static string Hostile(string kind) => kind switch
    {
        "long" => Guid.NewGuid().ToString("N") + new string('x', 10_000),
        "nul" => $"{Guid.NewGuid():N}\0after-nul",
        _ => $"{Guid.NewGuid():N}\ud800lone",
    };

    private IDeduplicationStore Store(TimeSpan? retention = null)
    {
        var store = CreateStore(retention ?? TimeSpan.FromDays(1));
        _stores.Add(store);
        return store;
    }

    private static DeduplicationKey Key() => new("group", Guid.NewGuid().ToString("N"));
}

public sealed class InMemoryDeduplicationStoreTests : DeduplicationStoreContractTests
{
    private InMemoryDeduplicationStore? _store;

    // Two instances of an in-memory store share nothing: "another instance" is the same one here.
    protected override IDeduplicationStore CreateStore(TimeSpan retention) =>
        _store ??= new InMemoryDeduplicationStore(new InMemoryDeduplicationOptions { Retention = retention });

    [Fact]
    public async Task Complete_BeyondMaxEntries_ForgetsTheOldestFirst()
    {
        var store = new InMemoryDeduplicationStore(new InMemoryDeduplicationOptions { MaxEntries = 3 });
        var keys = Enumerable.Range(0, 5).Select(i => new DeduplicationKey("g", $"m{i}")).ToList();
        var owner = Guid.NewGuid();
        foreach (var key in keys)
        {
            await store.ClaimAsync(key, owner, TimeSpan.FromMinutes(1));
            await store.CompleteAsync(key, owner);
        }

        store.Count.Should().Be(3);
        (await store.ClaimAsync(keys[0], Guid.NewGuid(), TimeSpan.FromMinutes(1))).Status.Should().Be(ClaimStatus.Claimed);
        (await store.ClaimAsync(keys[4], Guid.NewGuid(), TimeSpan.FromMinutes(1))).Status.Should().Be(ClaimStatus.AlreadyProcessed);
    }
}

public sealed class SqliteDeduplicationStoreTests : DeduplicationStoreContractTests, IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"reliablekafka-dedup-{Guid.NewGuid():N}.db");

    protected override IDeduplicationStore CreateStore(TimeSpan retention) =>
        new SqliteDeduplicationStore(new SqliteDeduplicationOptions { ConnectionString = $"Data Source={_path}", Retention = retention });

    [Fact]
    public async Task Completion_SurvivesAProcessRestart_NewStoreOnTheSameFile()
    {
        var key = new DeduplicationKey("group", "order-42");
        var owner = Guid.NewGuid();
        await using (var before = new SqliteDeduplicationStore(new SqliteDeduplicationOptions { ConnectionString = $"Data Source={_path}" }))
        {
            await before.ClaimAsync(key, owner, TimeSpan.FromMinutes(1));
            (await before.CompleteAsync(key, owner)).Should().BeTrue();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        await using var after = new SqliteDeduplicationStore(new SqliteDeduplicationOptions { ConnectionString = $"Data Source={_path}" });
        (await after.ClaimAsync(key, Guid.NewGuid(), TimeSpan.FromMinutes(1))).Status.Should().Be(ClaimStatus.AlreadyProcessed);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var file in new[] { _path, _path + "-wal", _path + "-shm" })
        {
            File.Delete(file);
        }
    }
}

public sealed class PostgreSqlDeduplicationStoreTests : DeduplicationStoreContractTests
{
    private readonly PostgreSqlDeduplicationOptions _options = TestPostgreSql.UniqueTable();

    protected override IDeduplicationStore CreateStore(TimeSpan retention)
    {
        _options.Retention = retention;
        return new PostgreSqlDeduplicationStore(_options);
    }

    [Fact]
    public async Task FirstUse_CreatesTheSchemaAndTable()
    {
        var store = CreateStore(TimeSpan.FromDays(1));
        await store.ClaimAsync(new DeduplicationKey("g", "m"), Guid.NewGuid(), TimeSpan.FromMinutes(1));

        (await TestPostgreSql.ScalarAsync($"SELECT count(*) FROM {_options.Schema}.{_options.TableName}")).Should().Be(1);
        await ((IAsyncDisposable)store).DisposeAsync();
    }

    [Fact]
    public async Task OnTheApplicationsDataSource_RenewalsKeepConnectionsOfTheirOwnWhenTheApplicationDrainsThePool()
    {
        await using var dataSource = Npgsql.NpgsqlDataSource.Create($"{TestPostgreSql.ConnectionString};Maximum Pool Size=12;Timeout=2");
        var options = TestPostgreSql.UniqueTable();
        options.ConnectionString = null;
        options.DataSource = dataSource;
        var store = new PostgreSqlDeduplicationStore(options);
        var key = new DeduplicationKey("g", "held");
        var owner = Guid.NewGuid();
        (await store.ClaimAsync(key, owner, TimeSpan.FromMinutes(1))).Status.Should().Be(ClaimStatus.Claimed);
        (await store.RenewAsync(key, owner, TimeSpan.FromMinutes(1))).Should().BeTrue();
        var taken = new List<Npgsql.NpgsqlConnection>();
        try
        {
            // The application takes every connection its pool still has.
            while (true)
            {
                try
                {
                    taken.Add(await dataSource.OpenConnectionAsync());
                }
                catch (Npgsql.NpgsqlException)
                {
                    break;
                }
            }

            (await store.RenewAsync(key, owner, TimeSpan.FromMinutes(1))).Should().BeTrue("the renewal's connection was reserved, not taken from the drained pool");
        }
        finally
        {
            foreach (var connection in taken)
            {
                await connection.DisposeAsync();
            }

            await ((IAsyncDisposable)store).DisposeAsync();
        }

        taken.Count.Should().BeLessThan(12, "the store keeps the renewal connections it reserved out of the pool");
        (await dataSource.OpenConnectionAsync()).Dispose();
    }
}
