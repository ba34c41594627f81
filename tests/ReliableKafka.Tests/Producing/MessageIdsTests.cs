using System.Text;
using Confluent.Kafka;
using ReliableKafka.Producing.Internal;

namespace ReliableKafka.Tests.Producing;

public sealed class MessageIdsTests
{
    [Fact]
    public void CopyWithId_NoHeaders_AddsANewThirtyTwoDigitId()
    {
        var id = Encoding.UTF8.GetString(MessageIds.CopyWithId(null, TimeProvider.System, out var copy));

        id.Should().MatchRegex("^[0-9a-f]{32}$");
        MessageIds.Read(copy).Should().Be(id);
    }

    [Fact]
    public void CopyWithId_TwoCalls_GiveDifferentIds()
    {
        MessageIds.CopyWithId(null, TimeProvider.System, out _)
            .Should().NotEqual(MessageIds.CopyWithId(null, TimeProvider.System, out _));
    }

    [Fact]
    public void CopyWithId_HeadersWithAnId_KeepsItAndDoesNotModifyTheSource()
    {
        var source = new Headers { { "a", [1] }, { ReliableKafkaHeaders.MessageId, Encoding.UTF8.GetBytes("given") } };

        var id = MessageIds.CopyWithId(source, TimeProvider.System, out var copy);

        Encoding.UTF8.GetString(id).Should().Be("given");
        copy.Should().NotBeSameAs(source);
        copy.Select(h => h.Key).Should().Equal("a", ReliableKafkaHeaders.MessageId);
        source.Should().HaveCount(2);
    }

    [Fact]
    public void CopyWithId_HeadersWithoutAnId_AddsOneToTheCopyOnly()
    {
        var source = new Headers { { "a", [1] } };

        MessageIds.CopyWithId(source, TimeProvider.System, out var copy);

        copy.Should().HaveCount(2);
        source.Should().ContainSingle();
    }

    [Fact]
    public void CopyOrNull_NoHeaders_IsNullSoNothingIsMarshalled()
    {
        MessageIds.CopyOrNull(null).Should().BeNull();
        MessageIds.CopyOrNull([]).Should().BeNull();
        MessageIds.CopyOrNull(new Headers { { "a", [1] } }).Should().ContainSingle();
    }

    [Fact]
    public void Read_EmptyIdHeader_IsNull()
    {
        MessageIds.Read(new Headers { { ReliableKafkaHeaders.MessageId, [] } }).Should().BeNull();
    }
}
