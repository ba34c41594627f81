using System.Text;
using Confluent.Kafka;

namespace ReliableKafka.Tests.Consuming;

public sealed class MessageContextTests
{
    [Fact]
    public void Create_GivenKeyValueOriginAndHeaders_BuildsWhatAHandlerWouldGet()
    {
        using var cancellation = new CancellationTokenSource();
        var headers = new Headers { { ReliableKafkaHeaders.MessageId, Encoding.UTF8.GetBytes("order-7") } };
        var timestamp = new Timestamp(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));

        var context = MessageContext.Create(
            "customer-1", 42, topic: "orders", partition: 3, offset: 99, headers: headers, timestamp: timestamp,
            consumerName: "billing", groupId: "billing-service", attempt: 2, cancellationToken: cancellation.Token);

        (context.Key, context.Value, context.Topic, context.Partition.Value, context.Offset.Value).Should().Be(("customer-1", 42, "orders", 3, 99L));
        context.MessageId.Should().Be("order-7");
        context.Timestamp.Should().Be(timestamp);
        (context.ConsumerName, context.GroupId, context.Attempt).Should().Be(("billing", "billing-service", 2));
        context.CancellationToken.Should().Be(cancellation.Token);
    }

    [Fact]
    public void Create_Defaults_FirstAttemptWithoutHeadersOrMessageId()
    {
        var context = MessageContext.Create<string?, string>(null, "v");

        context.Attempt.Should().Be(1);
        context.Headers.Should().BeEmpty();
        context.MessageId.Should().BeNull();
        context.Offset.Value.Should().Be(0);
    }

    [Fact]
    public void Create_AttemptBelowOneOrNegativeOffset_IsRefused()
    {
        ((Action)(() => MessageContext.Create("k", "v", attempt: 0))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => MessageContext.Create("k", "v", offset: -1))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => MessageContext.Create("k", "v", topic: " "))).Should().Throw<ArgumentException>();
    }
}
