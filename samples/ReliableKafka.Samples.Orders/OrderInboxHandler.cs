using Npgsql;
using ReliableKafka;
using ReliableKafka.PostgreSql;

namespace OrderProcessing;

/// <summary>
/// Inserts each order inside the inbox transaction. The consumer commits the insert together with the record's
/// deduplication entry, so a crash at any point leaves one row per order: never none, never two.
/// </summary>
public sealed class OrderInboxHandler(PostgreSqlInbox inbox) : IMessageHandler<string, OrderPlaced>
{
    /// <inheritdoc/>
    public async Task HandleAsync(MessageContext<string, OrderPlaced> context, CancellationToken cancellationToken)
    {
        var order = context.Value;
        await using var insert = new NpgsqlCommand(
            "INSERT INTO orders (order_id, customer_id, amount) VALUES ($1, $2, $3)", inbox.Connection, inbox.Transaction);
        insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = order.OrderId });
        insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = order.CustomerId });
        insert.Parameters.Add(new NpgsqlParameter<decimal> { TypedValue = order.Amount });
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }
}
