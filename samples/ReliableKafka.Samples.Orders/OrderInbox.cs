using ReliableKafka;

namespace OrderProcessing;

/// <summary>Records orders in PostgreSQL exactly once: a consumer whose handler writes in the inbox transaction.</summary>
public static class OrderInbox
{
    /// <summary>Adds the <c>order-inbox</c> consumer, deduplicating with PostgreSQL as a transactional inbox.</summary>
    /// <param name="kafka">ReliableKafka's builder.</param>
    /// <param name="connectionString">The database holding the <c>orders</c> table (and the deduplication table, created on first use).</param>
    /// <returns>The builder.</returns>
    public static IReliableKafkaBuilder AddOrderInbox(this IReliableKafkaBuilder kafka, string connectionString) => kafka
        .UsePostgreSqlDeduplication(o =>
        {
            o.ConnectionString = connectionString;
            o.TransactionalInbox = true;
        })
        .AddConsumer<string, OrderPlaced, OrderInboxHandler>("order-inbox", o =>
        {
            o.GroupId = "order-inbox";
            o.Topics.Add("orders");
            o.DeliveryGuarantee = DeliveryGuarantee.ExactlyOnce;
        });
}
