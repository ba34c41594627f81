using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using ReliableKafka.Sqlite;

namespace ReliableKafka;

/// <summary>Adds the SQLite deduplication store to ReliableKafka.</summary>
public static class SqliteDeduplicationBuilderExtensions
{
    /// <summary>Uses a <see cref="SqliteDeduplicationStore"/> on the database of <paramref name="connectionString"/>, e.g. <c>Data Source=dedup.db</c>.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="connectionString">The SQLite connection string.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder UseSqliteDeduplication(this IReliableKafkaBuilder builder, string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return builder.UseSqliteDeduplication((options, _) => options.ConnectionString = connectionString);
    }

    /// <summary>Uses a <see cref="SqliteDeduplicationStore"/>, configured in code.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures the store (the connection string is required).</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder UseSqliteDeduplication(this IReliableKafkaBuilder builder, Action<SqliteDeduplicationOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return builder.UseSqliteDeduplication((options, _) => configure(options));
    }

    /// <summary>Uses a <see cref="SqliteDeduplicationStore"/>, configured from a configuration section (unknown keys are errors).</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configuration">The section, e.g. <c>ReliableKafka:Deduplication:Sqlite</c>.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder UseSqliteDeduplication(this IReliableKafkaBuilder builder, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return builder.UseSqliteDeduplication((options, _) => configuration.Bind(options, binder => binder.ErrorOnUnknownConfiguration = true));
    }

    /// <summary>Uses a <see cref="SqliteDeduplicationStore"/>, configured in code with access to services.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures the store (the connection string is required).</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder UseSqliteDeduplication(this IReliableKafkaBuilder builder, Action<SqliteDeduplicationOptions, IServiceProvider> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return builder.UseDeduplicationStore<SqliteDeduplicationStore, SqliteDeduplicationOptions>(
            "Sqlite",
            (services, options) => new SqliteDeduplicationStore(options, services.GetRequiredService<TimeProvider>()),
            configure);
    }
}
