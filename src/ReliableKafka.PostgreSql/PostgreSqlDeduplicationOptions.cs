using System.ComponentModel.DataAnnotations;
using ReliableKafka.Deduplication;
using ReliableKafka.Deduplication.Internal;

namespace ReliableKafka.PostgreSql;

/// <summary>Options of the PostgreSQL deduplication store (<c>UsePostgreSqlDeduplication</c>).</summary>
public sealed class PostgreSqlDeduplicationOptions : DeduplicationStoreOptions
{
    /// <summary>Gets or sets the Npgsql connection string, e.g. <c>Host=db;Database=orders;Username=app;Password=...</c>. Required; never logged.</summary>
    /// <value>The default is <see langword="null"/>, which fails validation.</value>
    [Required(ErrorMessage = "ConnectionString must be set, e.g. \"Host=localhost;Database=app;Username=app;Password=...\".")]
    public string? ConnectionString { get; set; }

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
}
