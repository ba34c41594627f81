using System.ComponentModel.DataAnnotations;
using Npgsql;
using ReliableKafka.Deduplication;
using ReliableKafka.Deduplication.Internal;

namespace ReliableKafka.PostgreSql;

/// <summary>Options of the PostgreSQL deduplication store (<c>UsePostgreSqlDeduplication</c>).</summary>
public sealed class PostgreSqlDeduplicationOptions : DeduplicationStoreOptions, IValidatableObject
{
    /// <summary>
    /// Gets or sets the Npgsql connection string, e.g. <c>Host=db;Database=orders;Username=app;Password=...</c>; never
    /// logged. This or <see cref="DataSource"/> is required.
    /// </summary>
    /// <value>The default is <see langword="null"/>.</value>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Gets or sets the data source the store uses instead of a <see cref="ConnectionString"/> (code only): typically the
    /// application's own, from DI, e.g. <c>UsePostgreSqlDeduplication((o, sp) =&gt; o.DataSource = sp.GetRequiredService&lt;NpgsqlDataSource&gt;())</c>,
    /// so that its password provider, logging and pool settings apply. The store does not dispose it. Its pool serves
    /// the store's batches, lease renewals and (with <see cref="TransactionalInbox"/>) the handlers' transactions: its
    /// Maximum Pool Size is checked at startup.
    /// </summary>
    /// <value>The default is <see langword="null"/>: a data source of the store's own, from <see cref="ConnectionString"/>.</value>
    public NpgsqlDataSource? DataSource { get; set; }

    /// <summary>Gets or sets the schema of the table.</summary>
    /// <value>The default is <c>reliablekafka</c>.</value>
    [RegularExpression(SqlIdentifier.Pattern, ErrorMessage = "Schema " + SqlIdentifier.Rule)]
    public string Schema { get; set; } = "reliablekafka";

    /// <summary>Gets or sets the table that holds the processed message ids (primary key: consumer group and message id).</summary>
    /// <value>The default is <c>processed_messages</c>.</value>
    [RegularExpression(SqlIdentifier.Pattern, ErrorMessage = "TableName " + SqlIdentifier.Rule)]
    public string TableName { get; set; } = "processed_messages";

    /// <summary>
    /// Gets or sets whether the schema and table are created on first use when missing (<c>CREATE ... IF NOT EXISTS</c>,
    /// which needs the CREATE privilege). Off, create them yourself with <see cref="PostgreSqlDeduplicationStore.CreateSchemaSql"/>.
    /// </summary>
    /// <value>The default is <see langword="true"/>.</value>
    public bool CreateSchema { get; set; } = true;

    /// <summary>
    /// Gets or sets whether handlers run inside a database transaction of the store (a transactional inbox): the
    /// handler takes it from <see cref="PostgreSqlInbox"/> (a scoped service) for its own writes, and the record's
    /// completion is written and committed in the same transaction. A crash at any point then leaves either both
    /// (the record is not handled again) or neither (it is handled again): exactly-once effects in this database.
    /// </summary>
    /// <value>The default is <see langword="false"/>: completions are committed on their own after the handler returned.</value>
    public bool TransactionalInbox { get; set; }

    /// <summary>Checks that exactly one of <see cref="ConnectionString"/> and <see cref="DataSource"/> is set.</summary>
    /// <param name="validationContext">The validation context.</param>
    /// <returns>The errors.</returns>
    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        var connectionString = !string.IsNullOrWhiteSpace(ConnectionString);
        if (!connectionString && DataSource is null)
        {
            yield return new ValidationResult(
                "ConnectionString must be set, e.g. \"Host=localhost;Database=app;Username=app;Password=...\" (or, in code, DataSource).",
                [nameof(ConnectionString)]);
        }
        else if (connectionString && DataSource is not null)
        {
            yield return new ValidationResult(
                "ConnectionString and DataSource are both set; set one of them.",
                [nameof(ConnectionString), nameof(DataSource)]);
        }
    }
}
