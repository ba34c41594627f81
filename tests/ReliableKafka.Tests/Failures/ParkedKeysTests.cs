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
        parked.TryFollow(KeyA, 5, out _, out _).Should().Be(FollowResult.NotParked, "nothing is parked yet");

        parked.Park(KeyA, 5, notBeforeMs: 1000).Should().BeTrue();
        parked.TryFollow(KeyA, 6, out var notBefore, out _).Should().Be(FollowResult.Follow);
        notBefore.Should().Be(1000, "a follower goes with the time of the record it follows");
        parked.TryFollow(KeyB, 7, out _, out _).Should().Be(FollowResult.NotParked, "other keys are not parked");
        parked.TryFollow(KeyA, 8, out _, out _).Should().Be(FollowResult.Follow);

        parked.Release(KeyA, 5).Should().BeFalse("records sent on after it still hold the key");
        parked.TryFollow(KeyA, 9, out _, out var released).Should().Be(FollowResult.Wait, "an earlier record is done: the rest are due, so new records wait for the release");
        released.IsCompleted.Should().BeFalse();
        parked.Release(KeyA, 6).Should().BeFalse();
        parked.Count.Should().Be(1);
        parked.Behind.Should().Be(2);
        parked.Release(KeyA, 8).Should().BeTrue("the last record sent on is done");
        released.IsCompletedSuccessfully.Should().BeTrue("the records that waited go on");
        parked.TryFollow(KeyA, 9, out _, out _).Should().Be(FollowResult.NotParked, "a released key is handled in place again");
    }

    [Fact]
    public void ADrainingKeyWhoseReleaseDoesNotCome_IsFollowedAgain()
    {
        var parked = new ParkedKeys();
        parked.Park(KeyA, 5, 0);
        parked.TryFollow(KeyA, 6, out _, out _);
        parked.Release(KeyA, 5);
        parked.TryFollow(KeyA, 7, out _, out _).Should().Be(FollowResult.Wait);

        parked.StopDraining(KeyA);

        parked.TryFollow(KeyA, 7, out _, out _).Should().Be(FollowResult.Follow);
        parked.Release(KeyA, 6).Should().BeFalse("7 followed after all");
        parked.Release(KeyA, 7).Should().BeTrue();
    }

    [Fact]
    public void Release_ByARecordBeyondTheLastOneSentOn_ReleasesTheKey()
    {
        // A release written for a record that a previous owner sent on beyond what this owner restored: every record of
        // the key before it went through the retry topics ahead of it, so it is done too.
        var parked = new ParkedKeys();
        parked.Restore([(KeyA, 10L, 0L)], committed: 5);
        parked.Release(KeyA, 12).Should().BeTrue();
    }

    [Fact]
    public void KeysBeyondTheMetadataBound_AreParkedAndPinTheCommitsAtTheOldestLeftOut()
    {
        var parked = new ParkedKeys { MetadataKeys = 1 };
        parked.Park(KeyA, 10, 0).Should().BeTrue();
        parked.PinnedAt.Should().BeNull();
        parked.Park(KeyB, 20, 0).Should().BeFalse("it is one more than the metadata holds");
        parked.TryFollow(KeyB, 21, out _, out _).Should().Be(FollowResult.Follow, "it is parked all the same");
        var (text, pin) = parked.Encode();
        pin.Should().Be(20, "the commits stay at the record that parked the key left out");
        parked.PinnedAt.Should().Be(20);
        ParkedKeys.TryDecode(text!, out var kept).Should().BeTrue();
        kept.Should().Equal([(KeyA, 10L, 0L)], "the oldest keys go into the metadata");

        parked.Release(KeyA, 10).Should().BeTrue();
        parked.PinnedAt.Should().BeNull("the key left out now fits");
        (text, pin) = parked.Encode();
        pin.Should().BeNull();
        ParkedKeys.TryDecode(text!, out kept).Should().BeTrue();
        kept.Should().Equal((KeyB, 21L, 0L));
        parked.MetadataKeys = 0;
        parked.Encode().Should().Be(((string?)null, (long?)20));
    }

    [Fact]
    public void Restore_KeepsTheHigherLastOffsetAndEncodeRoundTrips()
    {
        var parked = new ParkedKeys();
        parked.Restore([(KeyA, 10L, 1234L), (KeyB, 3L, 0L)], committed: 2);
        parked.Park(KeyA, 7, 99);

        ParkedKeys.TryDecode(parked.Encode().Text!, out var keys).Should().BeTrue();
        keys.Should().BeEquivalentTo([(KeyA, 10L, 1234L), (KeyB, 3L, 0L)]);
        new ParkedKeys().Encode().Text.Should().BeNull();
        ParkedKeys.TryDecode("not base64!", out _).Should().BeFalse();
        ParkedKeys.TryDecode(Convert.ToBase64String([9, 0]), out _).Should().BeFalse("an unknown version is refused");
        ParkedKeys.TryDecode(Convert.ToBase64String([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), out _)
            .Should().BeFalse("a not-before time beyond DateTimeOffset is damaged");
    }

    [Fact]
    public void CommitMetadata_CarriesParkedKeysNextToTheFinishedRecordsAndSplitsBack()
    {
        var metadata = new CommitMetadata(Context());
        var state = new PartitionState(new TopicPartition("orders", 0), OrderingMode.Key, _ => { });
        metadata.Encode(state, 10, [12, 13]).Should().Be((10L, OffsetGapCodec.Encode(10, [12, 13])), "without parked keys the format is unchanged");

        state.Parked.Park(KeyA, 11, 5000);
        var (offset, encoded) = metadata.Encode(state, 10, [12, 13]);
        offset.Should().Be(10);
        var (finished, parkedPart) = CommitMetadata.Split(encoded!);
        finished.Should().Be(OffsetGapCodec.Encode(10, [12, 13]));
        ParkedKeys.TryDecode(parkedPart!, out var keys).Should().BeTrue();
        keys.Should().Equal((KeyA, 11L, 5000L));

        var onlyParked = metadata.Encode(state, 10, []).Metadata!;
        CommitMetadata.Split(onlyParked).Finished.Should().BeNull();
        CommitMetadata.Split(onlyParked).Parked.Should().NotBeNull();
    }

    [Fact]
    public void CommitMetadata_WithMoreParkedKeysThanItHolds_CommitsAtThePinWithoutFinishedRecords()
    {
        var options = new ConsumerOptions { GroupId = "g" };
        options.Topics.Add("orders");
        options.RetryTopic.MaxParkedKeysPerPartition = 1;
        var config = KafkaClientConfigBuilder.BuildConsumer(new ReliableKafkaOptions { BootstrapServers = "localhost:9092" }, "test", options);
        var metadata = new CommitMetadata(new EngineContext(config, options, NullLoggerFactory.Instance, TimeProvider.System));
        var state = new PartitionState(new TopicPartition("orders", 0), OrderingMode.Key, _ => { });
        state.Parked.Park(KeyA, 5, 0);
        state.Parked.Park(KeyB, 8, 0);

        var (offset, encoded) = metadata.Encode(state, 12, [14, 15]);

        offset.Should().Be(8, "the next owner handles again from the record that parked the key left out");
        var (finished, parkedPart) = CommitMetadata.Split(encoded!);
        finished.Should().BeNull("records beyond the pin are handled again");
        ParkedKeys.TryDecode(parkedPart!, out var keys).Should().BeTrue();
        keys.Select(k => k.Hash).Should().Equal(KeyA);
        state.BeyondGapBound(8 + OffsetGapCodec.MaxSpan).Should().BeTrue("the partition takes records no further than the gap bound beyond the pin");
    }

    [Fact]
    public void CommitMetadata_ParkedKeysAlwaysFitAndFinishedRecordsGetWhatIsLeft()
    {
        var metadata = new CommitMetadata(Context());
        var state = new PartitionState(new TopicPartition("orders", 0), OrderingMode.Key, _ => { });
        for (var k = 0; k < 100; k++)
        {
            state.Parked.Park(ParkedKeys.HashOf(Encoding.UTF8.GetBytes($"key-{k}")), 1_000_000_000 + k, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        }

        // Every other offset finished across the whole span: the longest finished-records encoding there is.
        var finished = Enumerable.Range(1, (int)(OffsetGapCodec.MaxSpan / 2)).Select(i => 10L + (2 * i)).ToList();
        var (_, encoded) = metadata.Encode(state, 10, finished);

        encoded!.Length.Should().BeLessThanOrEqualTo(OffsetGapCodec.MaxLength);
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
        options.RetryTopic.MaxParkedKeysPerPartition = 100;
        options.Topics.Add("orders");
        var config = KafkaClientConfigBuilder.BuildConsumer(new ReliableKafkaOptions { BootstrapServers = "localhost:9092" }, "test", options);
        return new EngineContext(config, options, NullLoggerFactory.Instance, TimeProvider.System);
    }
}
