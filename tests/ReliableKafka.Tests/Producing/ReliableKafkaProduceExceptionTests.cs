using Confluent.Kafka;

namespace ReliableKafka.Tests.Producing;

public sealed class ReliableKafkaProduceExceptionTests
{
    [Theory]
    [InlineData(ErrorCode.Local_MsgTimedOut, true)]
    [InlineData(ErrorCode.NotLeaderForPartition, true)]
    [InlineData(ErrorCode.RequestTimedOut, true)]
    [InlineData(ErrorCode.NotEnoughReplicas, true)]
    [InlineData(ErrorCode.Local_AllBrokersDown, true)]
    [InlineData(ErrorCode.MsgSizeTooLarge, false)]
    [InlineData(ErrorCode.TopicAuthorizationFailed, false)]
    [InlineData(ErrorCode.InvalidRecord, false)]
    [InlineData(ErrorCode.Local_ValueSerialization, false)]
    public void Constructor_KafkaError_ClassifiesRetriable(ErrorCode code, bool retriable)
    {
        var exception = new ReliableKafkaProduceException(new Error(code), "orders", "id-1", null);

        exception.ErrorCode.Should().Be(code);
        exception.IsRetriable.Should().Be(retriable);
        exception.IsFatal.Should().BeFalse();
        exception.Message.Should().Be($"Producing message id-1 to 'orders' failed: {code} ({(retriable ? "retriable" : "not retriable")}): {new Error(code).Reason}");
    }

    [Fact]
    public void Constructor_FatalError_IsFatalAndNotRetriable()
    {
        var exception = new ReliableKafkaProduceException(new Error(ErrorCode.Local_MsgTimedOut, "gone", isFatal: true), "orders", null, null);

        exception.IsFatal.Should().BeTrue();
        exception.IsRetriable.Should().BeFalse();
        exception.Message.Should().Contain("(fatal)").And.Contain("(no id)");
    }

    [Fact]
    public void Constructor_NullError_ThrowsWithParameterName()
    {
        var act = () => new ReliableKafkaProduceException(null!, "orders", null, null);

        act.Should().Throw<ArgumentNullException>().WithParameterName("error");
    }
}
