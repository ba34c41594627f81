using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Failures.Internal.Retry;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Tests.Failures;

public sealed class ParkedKeysTests
{
    private static readonly ulong KeyA = ParkedKeys.HashOf(Encoding.UTF8.GetBytes("a"));
    private static readonly ulong KeyB = ParkedKeys.HashOf(Encoding.UTF8.GetBytes("b"));

    [Fact]
    public void HashOf_IsStableAcrossCallsAndKeylessRecordsParkTogether()
    {
        ParkedKeys.HashOf(Encoding.UTF8.GetBytes("a")).Should().Be(KeyA);
        KeyA.Should().NotBe(KeyB);
        ParkedKeys.HashOf(null).Should().Be(0);
    }

    [Fact]
    public void AParkedKey_IsFollowedByItsLaterRecordsAndReleasedOnlyByTheLastOneSentOn()
    {
        var parked = new ParkedKeys();
        parked.TryFollow(KeyA, 5, out _).Should().BeFalse("nothing is parked yet");

        parked.TryPark(KeyA, 5, notBeforeMs: 1000, max: 10).Should().BeTrue();
        parked.TryFollow(KeyA, 6, out var notBefore).Should().BeTrue();
        notBefore.Should().Be(1000, "a follower goes with the time of the record it follows");
        parked.TryFollow(KeyB, 7, out _).Should().BeFalse("other keys are not parked");
        parked.TryFollow(KeyA, 8, out _).Should().BeTrue();

        parked.Release(KeyA, 5).Should().BeFalse("records sent on after it still hold the key");
        parked.Release(KeyA, 6).Should().BeFalse();
        parked.Count.Should().Be(1);
        parked.Behind.Should().Be(2);
        parked.Release(KeyA, 8).Should().BeTrue();
        parked.Count.Should().Be(0);
        parked.TryFollow(KeyA, 9, out _).Should().BeFalse("a released key is handled in place again");
    }

    [Fact]
    public void TryPark_RefusesANewKeyBeyondTheBoundButNotAParkedOne()
    {
        var parked = new ParkedKeys();
        parked.TryPark(KeyA, 1, 0, max: 1).Should().BeTrue();
        parked.TryPark(KeyB, 2, 0, max: 1).Should().BeFalse();
        parked.TryPark(KeyA, 3, 0, max: 1).Should().BeTrue("a parked key needs no room");
        parked.Snapshot().Should().Equal((KeyA, 3L));
    }

    [Fact]
    public void Restore_KeepsTheHigherLastOffsetAndEncodeRoundTrips()
    {
        var parked = new ParkedKeys();
        parked.Restore([(KeyA, 10L, 1234L), (KeyB, 3L, 0L)]);
        parked.TryPark(KeyA, 7, 99, max: 5);

        ParkedKeys.TryDecode(parked.Encode()!, out var keys).Should().BeTrue();
        keys.Should().BeEquivalentTo([(KeyA, 10L, 1234L), (KeyB, 3L, 0L)]);
        new ParkedKeys().Encode().Should().BeNull();
        ParkedKeys.TryDecode("not base64!", out _).Should().BeFalse();
        ParkedKeys.TryDecode(Convert.ToBase64String([9, 0]), out _).Should().BeFalse("an unknown version is refused");
    }

    [Fact]
    public void CommitMetadata_CarriesParkedKeysNextToTheFinishedRecordsAndSplitsBack()
    {
        var metadata = new CommitMetadata(Context());
        var state = new PartitionState(new TopicPartition("orders", 0), OrderingMode.Key, _ => { });
        metadata.Encode(state, 10, [12, 13]).Should().Be(OffsetGapCodec.Encode(10, [12, 13]), "without parked keys the format is unchanged");

        state.Parked.TryPark(KeyA, 11, 5000, 10);
        var encoded = metadata.Encode(state, 10, [12, 13])!;
        var (finished, parkedPart) = CommitMetadata.Split(encoded);
        finished.Should().Be(OffsetGapCodec.Encode(10, [12, 13]));
        ParkedKeys.TryDecode(parkedPart!, out var keys).Should().BeTrue();
        keys.Should().Equal((KeyA, 11L, 5000L));

        var onlyParked = metadata.Encode(state, 10, [])!;
        CommitMetadata.Split(onlyParked).Finished.Should().BeNull();
        CommitMetadata.Split(onlyParked).Parked.Should().NotBeNull();
    }

    [Fact]
    public void CommitMetadata_ParkedKeysAlwaysFitAndFinishedRecordsGetWhatIsLeft()
    {
        var metadata = new CommitMetadata(Context());
        var state = new PartitionState(new TopicPartition("orders", 0), OrderingMode.Key, _ => { });
        for (var k = 0; k < 100; k++)
        {
            state.Parked.TryPark(ParkedKeys.HashOf(Encoding.UTF8.GetBytes($"key-{k}")), 1_000_000_000 + k, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 100);
        }

        // Every other offset finished across the whole span: the longest finished-records encoding there is.
        var finished = Enumerable.Range(1, (int)(OffsetGapCodec.MaxSpan / 2)).Select(i => 10L + (2 * i)).ToList();
        var encoded = metadata.Encode(state, 10, finished)!;

        encoded.Length.Should().BeLessThanOrEqualTo(OffsetGapCodec.MaxLength);
        var (finishedPart, parkedPart) = CommitMetadata.Split(encoded);
        ParkedKeys.TryDecode(parkedPart!, out var keys).Should().BeTrue();
        keys.Should().HaveCount(100);
        OffsetGapCodec.TryDecode(finishedPart, out var watermark, out var decoded, out _).Should().BeTrue();
        watermark.Should().Be(10);
        decoded.Should().NotBeEmpty().And.Subject.Should().BeSubsetOf(finished);
    }

    private static EngineContext Context()
    {
        var options = new ConsumerOptions { GroupId = "g" };
        options.Topics.Add("orders");
        var config = KafkaClientConfigBuilder.BuildConsumer(new ReliableKafkaOptions { BootstrapServers = "localhost:9092" }, "test", options);
        return new EngineContext(config, options, NullLoggerFactory.Instance, TimeProvider.System);
    }
}
