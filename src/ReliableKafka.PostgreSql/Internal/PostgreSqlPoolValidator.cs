using Microsoft.Extensions.Options;
using Npgsql;

namespace ReliableKafka.PostgreSql.Internal;

/// <summary>
/// Checks at startup that the PostgreSQL store's connection pool can serve everything a host may ask of it at once:
/// the store's own batches (<see cref="PostgreSqlTable.StoreConnections"/>) and, for a transactional inbox, one
/// connection per handler that may run (the <see cref="ConsumerOptions.MaxConcurrency"/> of every consumer that
/// deduplicates). A pool that runs dry makes transactions time out as store failures.
/// </summary>
internal sealed class PostgreSqlPoolValidator(IOptionsMonitor<PostgreSqlDeduplicationOptions> store) : IValidateOptions<ReliableKafkaOptions>
{
    public ValidateOptionsResult Validate(string? name, ReliableKafkaOptions options)
    {
        var storeOptions = store.CurrentValue;
        var connectionString = storeOptions.DataSource?.ConnectionString ?? storeOptions.ConnectionString;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return ValidateOptionsResult.Skip; // the store's own validation reports it
        }

        NpgsqlConnectionStringBuilder connection;
        try
        {
            connection = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException)
        {
            return ValidateOptionsResult.Skip; // Npgsql reports a malformed connection string on first use
        }

        var handlers = storeOptions.TransactionalInbox
            ? options.Consumers.Where(c => Deduplicates(options, c.Value)).Sum(c => c.Value.MaxConcurrency)
            : 0;

        // The store's own pool keeps renewals apart; the application's data source serves them too.
        var storeConnections = PostgreSqlTable.StoreConnections + (storeOptions.DataSource is null ? 0 : PostgreSqlTable.RenewalConnections);
        var needed = storeConnections + handlers;
        return connection.MaxPoolSize >= needed
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(
                $"ReliableKafka:Deduplication:PostgreSql: the connection pool (Maximum Pool Size {connection.MaxPoolSize}) is smaller than what this host may use at once: " +
                $"{storeConnections} for the store{(handlers > 0 ? $" and {handlers} for inbox handlers (the MaxConcurrency of the consumers that deduplicate)" : string.Empty)}; " +
                $"raise Maximum Pool Size to at least {needed} in the {(storeOptions.DataSource is null ? "connection string" : "data source's connection string")}{(handlers > 0 ? ", or lower MaxConcurrency" : string.Empty)}.");
    }

    private static bool Deduplicates(ReliableKafkaOptions root, ConsumerOptions consumer) =>
        (consumer.DeliveryGuarantee ?? root.DeliveryGuarantee) != DeliveryGuarantee.AtMostOnce && consumer.Deduplication.Enabled != false;
}
