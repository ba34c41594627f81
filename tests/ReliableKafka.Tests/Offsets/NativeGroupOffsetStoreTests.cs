using Confluent.Kafka;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Tests.Offsets;

/// <summary>How a commit's per-partition results are read back (librdkafka returns them sorted, not in request order).</summary>
public sealed class NativeGroupOffsetStoreTests
{
    private static readonly TopicPartition Late = new("zeta", 0);
    private static readonly TopicPartition Early = new("alpha", 3);

    [Fact]
    public void MatchResults_SortedResultsForAnUnsortedRequest_EachPartitionGetsItsOwnError()
    {
        // Request order: zeta [0], alpha [3]; librdkafka answers alpha [3] first.
        var returned = new Dictionary<TopicPartition, ErrorCode> { [Early] = ErrorCode.UnknownTopicOrPart, [Late] = ErrorCode.NoError };

        var failed = NativeGroupOffsetStore.MatchResults([new OffsetCommit(Late, 5, null, null), new OffsetCommit(Early, 9, null, null)], returned, ErrorCode.UnknownTopicOrPart);

        failed.Should().NotBeNull();
        failed!.Results.Single(r => r.TopicPartition == Early).Error.Code.Should().Be(ErrorCode.UnknownTopicOrPart);
        failed.Results.Single(r => r.TopicPartition == Late).Error.IsError.Should().BeFalse("zeta [0] was committed; pairing by position would have called it failed");
        failed.Results.Select(r => r.TopicPartition).Should().Equal([Late, Early], "results are reported in request order");
    }

    [Fact]
    public void MatchResults_EveryPartitionCommitted_ReportsNoFailure() =>
        NativeGroupOffsetStore.MatchResults([new OffsetCommit(Late, 5, null, null)], new Dictionary<TopicPartition, ErrorCode> { [Late] = ErrorCode.NoError }, ErrorCode.NoError)
            .Should().BeNull();

    [Fact]
    public void MatchResults_PartitionMissingFromTheResult_GetsTheRequestError()
    {
        var failed = NativeGroupOffsetStore.MatchResults(
            [new OffsetCommit(Late, 5, null, null), new OffsetCommit(Early, 1, null, null)],
            new Dictionary<TopicPartition, ErrorCode> { [Late] = ErrorCode.NoError },
            ErrorCode.RequestTimedOut);

        failed!.Results.Single(r => r.TopicPartition == Early).Error.Code.Should().Be(ErrorCode.RequestTimedOut);
    }
}
