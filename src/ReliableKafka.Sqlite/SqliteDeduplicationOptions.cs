using System.ComponentModel.DataAnnotations;
using ReliableKafka.Deduplication;
using ReliableKafka.Deduplication.Internal;

namespace ReliableKafka.Sqlite;

/// <summary>Options of <see cref="SqliteDeduplicationStore"/> (<c>UseSqliteDeduplication</c>).</summary>
public sealed class SqliteDeduplicationOptions : DeduplicationStoreOptions
{
    /// <summary>
    /// Gets or sets the SQLite connection string, e.g. <c>Data Source=/var/lib/orders/dedup.db</c>. The file is
    /// created when missing and put in WAL mode. Keep it on a local disk that outlives the process (not a
    /// container's temporary layer). Required.
    /// </summary>
    /// <value>The default is <see langword="null"/>, which fails validation.</value>
    [Required(ErrorMessage = "ConnectionString must be set, e.g. \"Data Source=dedup.db\".")]
    public string? ConnectionString { get; set; }

    /// <summary>Gets or sets the table that holds the processed message ids (created when missing).</summary>
    /// <value>The default is <c>reliablekafka_processed_messages</c>.</value>
    [RegularExpression(SqlIdentifier.Pattern, ErrorMessage = "TableName " + SqlIdentifier.Rule)]
    public string TableName { get; set; } = "reliablekafka_processed_messages";

    /// <summary>
    /// Gets or sets whether every completion is flushed to disk before it counts (SQLite's <c>synchronous=FULL</c>).
    /// Off, completions survive a process crash but the last few may be lost in a power failure or OS crash (those
    /// records are then handled again), which is SQLite's <c>synchronous=NORMAL</c> in WAL mode and much faster.
    /// </summary>
    /// <value>The default is <see langword="false"/>.</value>
    public bool FlushEveryWrite { get; set; }
}
