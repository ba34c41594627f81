using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ReliableKafka.Deduplication;
using ReliableKafka.PostgreSql;
using ReliableKafka.PostgreSql.Internal;

namespace ReliableKafka;

/// <summary>Adds the PostgreSQL deduplication store to ReliableKafka.</summary>
public static class PostgreSqlDeduplicationBuilderExtensions
{
    /// <summary>Uses the PostgreSQL store on the database of <paramref name="connectionString"/> (schema and table created when missing).</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="connectionString">The Npgsql connection string.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder UsePostgreSqlDeduplication(this IReliableKafkaBuilder builder, string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return builder.UsePostgreSqlDeduplication((options, _) => options.ConnectionString = connectionString);
    }

    /// <summary>Uses the PostgreSQL store, configured in code (a <see cref="PostgreSqlInboxStore"/> when <see cref="PostgreSqlDeduplicationOptions.TransactionalInbox"/> is set).</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures the store (the connection string is required).</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder UsePostgreSqlDeduplication(this IReliableKafkaBuilder builder, Action<PostgreSqlDeduplicationOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return builder.UsePostgreSqlDeduplication((options, _) => configure(options));
    }

    /// <summary>Uses the PostgreSQL store, configured from a configuration section (unknown keys are errors).</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configuration">The section, e.g. <c>ReliableKafka:Deduplication:PostgreSql</c>.</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder UsePostgreSqlDeduplication(this IReliableKafkaBuilder builder, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return builder.UsePostgreSqlDeduplication((options, _) => configuration.Bind(options, binder => binder.ErrorOnUnknownConfiguration = true));
    }

    /// <summary>Uses the PostgreSQL store, configured in code with access to services. Handlers can inject <see cref="PostgreSqlInbox"/>.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures the store (the connection string is required).</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder UsePostgreSqlDeduplication(this IReliableKafkaBuilder builder, Action<PostgreSqlDeduplicationOptions, IServiceProvider> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.TryAddScoped<PostgreSqlInbox>();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ReliableKafkaOptions>, PostgreSqlPoolValidator>());
        return builder.UseDeduplicationStore<IDeduplicationStore, PostgreSqlDeduplicationOptions>(
            "PostgreSql",
            (_, options) => options.TransactionalInbox ? new PostgreSqlInboxStore(options) : new PostgreSqlDeduplicationStore(options),
            configure);
    }
}
