using ReliableKafka.Deduplication.Internal;

namespace ReliableKafka.Tests.Deduplication;

public sealed class StoredMessageIdTests
{
    [Theory]
    [InlineData("order-17")]
    [InlineData("orders/3@1042/1732900000000")]
    [InlineData("ключ-😀")]
    public void Of_PlainShortId_IsKeptAsItIs(string id) => StoredMessageId.Of(id).Should().Be(id);

    [Theory]
    [InlineData("nul")]
    [InlineData("long")]
    [InlineData("surrogate")]
    public void Of_IdADatabaseMayRefuse_IsAPrefixAndAHashWithoutNulOrLoneSurrogates(string kind)
    {
        var id = kind switch
        {
            "nul" => "a\0b",
            "long" => new string('x', 3000),
            _ => "a\ud800b",
        };

        var stored = StoredMessageId.Of(id);

        stored.Should().NotContain("\0").And.Contain("sha256:").And.NotBe(id);
        stored.Length.Should().BeLessThan(200);
        stored.Any(char.IsSurrogate).Should().BeFalse();
        StoredMessageId.Of(id).Should().Be(stored, "the same id is always stored the same way");
        StoredMessageId.Of(id + "y").Should().NotBe(stored);
    }

    [Fact]
    public void Of_PlainIdThatSpellsAnotherIdsStoredForm_IsStoredDifferently()
    {
        // A producer could send, as a message id, exactly what another id is stored as: it must not suppress that message.
        var victim = new string('v', 1000);
        var crafted = StoredMessageId.Of(victim);

        StoredMessageId.Of(crafted).Should().NotBe(crafted);
    }

    [Fact]
    public void Of_TwoIdsThatDifferOnlyInALoneSurrogate_AreStoredDifferently() =>
        StoredMessageId.Of("a\ud800b").Should().NotBe(StoredMessageId.Of("a\udfffb"), "each code unit counts, none is replaced");
}
