using Npgsql;
using ReliableKafka.PostgreSql;

namespace ReliableKafka.IntegrationTests.Infrastructure;

/// <summary>
/// The PostgreSQL server for tests: RELIABLEKAFKA_POSTGRESQL (./build.sh test installs, starts and sets it through
/// eng/provision-postgresql.sh). Missing, the tests fail: they are never skipped.
/// </summary>
internal static class TestPostgreSql
{
    public const string Variable = "RELIABLEKAFKA_POSTGRESQL";

    public static string ConnectionString =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{Variable} is not set: run the tests with ./build.sh test (which provisions PostgreSQL), or set it to a server of your own, e.g. the output of `bash eng/provision-postgresql.sh`.");

    /// <summary>Options for a table of its own (a unique name in schema reliablekafka_tests), so tests do not meet.</summary>
    public static PostgreSqlDeduplicationOptions UniqueTable(bool inbox = false) => new()
    {
        ConnectionString = ConnectionString,
        Schema = "reliablekafka_tests",
        TableName = $"dedup_{Guid.NewGuid():N}"[..30],
        TransactionalInbox = inbox,
    };

    public static async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
