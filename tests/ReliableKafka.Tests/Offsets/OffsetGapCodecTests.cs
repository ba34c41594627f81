using System.Text;
using ReliableKafka.Offsets.Internal;

namespace ReliableKafka.Tests.Offsets;

public sealed class OffsetGapCodecTests
{
    [Fact]
    public void Encode_NothingFinishedBeyondTheWatermark_IsNull()
    {
        OffsetGapCodec.Encode(100, []).Should().BeNull();
    }

    [Fact]
    public void Encode_ContiguousRuns_UsesFewBytesAndRoundTrips()
    {
        long[] finished = [.. Enumerable.Range(101, 500).Select(i => (long)i), .. Enumerable.Range(2000, 300).Select(i => (long)i)];

        var metadata = OffsetGapCodec.Encode(100, finished);

        metadata.Should().StartWith("rk1:");
        metadata!.Length.Should().BeLessThan(40, "two runs need a handful of varints");
        OffsetGapCodec.TryDecode(metadata, out var watermark, out var decoded, out var error).Should().BeTrue(error);
        watermark.Should().Be(100);
        decoded.Should().Equal(finished);
    }

    /// <summary>Thousands of seeded sets: decoding gives back exactly what was encoded, and the bound always holds.</summary>
    [Fact]
    public void EncodeDecode_RandomSets_RoundTripAndStayWithinTheBound()
    {
        for (var seed = 1; seed <= 3000; seed++)
        {
            var random = new Random(seed);
            var watermark = random.NextInt64(0, long.MaxValue / 2);
            var span = random.Next(1, (int)OffsetGapCodec.MaxSpan + 1);
            var density = random.NextDouble();
            var finished = Enumerable.Range(1, span).Where(_ => random.NextDouble() < density).Select(i => watermark + i).ToList();
            if (finished.Count == 0)
            {
                continue;
            }

            var metadata = OffsetGapCodec.Encode(watermark, finished)!;

            if (metadata.Length > OffsetGapCodec.MaxLength ||
                !OffsetGapCodec.TryDecode(metadata, out var decodedWatermark, out var decoded, out _) ||
                decodedWatermark != watermark || !decoded.SequenceEqual(finished))
            {
                Assert.Fail($"seed {seed}: span {span}, {finished.Count} finished, {metadata.Length} chars");
            }
        }
    }

    [Fact]
    public void Encode_WorstCaseAlternatingAcrossTheWholeSpan_FitsTheBrokerDefaultLimit()
    {
        var finished = Enumerable.Range(1, (int)OffsetGapCodec.MaxSpan).Where(i => i % 2 == 0).Select(i => (long)i).ToList();
        var longest = Enumerable.Range(1, (int)OffsetGapCodec.MaxSpan).Select(i => (long)i).ToList();

        OffsetGapCodec.Encode(0, finished)!.Length.Should().BeLessThanOrEqualTo(4096);
        OffsetGapCodec.Encode(long.MaxValue / 2, finished.Select(f => (long.MaxValue / 2) + f).ToList())!.Length.Should().BeLessThanOrEqualTo(4096);
        OffsetGapCodec.Encode(0, longest)!.Length.Should().BeLessThanOrEqualTo(4096);
    }

    [Theory]
    [InlineData(5L, 5L)]
    [InlineData(5L, 4L)]
    [InlineData(0L, OffsetGapCodec.MaxSpan + 1)]
    public void Encode_OffsetNotWithinTheSpanBeyondTheWatermark_Throws(long watermark, long offset)
    {
        var act = () => OffsetGapCodec.Encode(watermark, [offset]);

        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Theory]
    [InlineData(null, "no metadata")]
    [InlineData("", "no metadata")]
    [InlineData("some other library's metadata", "not ReliableKafka's format")]
    [InlineData("rk1:%%%", "not valid base64")]
    [InlineData("rk1:Ag==", "unknown version 2")]
    [InlineData("rk1:AQ==", "truncated header")]
    [InlineData("rk1:AWQH", "unknown encoding 7")]
    public void TryDecode_ForeignOrCorruptMetadata_ReturnsFalseWithTheReason(string? metadata, string reason)
    {
        OffsetGapCodec.TryDecode(metadata, out _, out var finished, out var error).Should().BeFalse();

        error.Should().Be(reason);
        finished.Should().BeEmpty();
    }

    [Fact]
    public void TryDecode_TrailingBytesOrATruncatedBody_IsCorrupt()
    {
        var valid = OffsetGapCodec.Encode(10, [12, 13, 20])!;
        var payload = Convert.FromBase64String(valid[4..]);

        OffsetGapCodec.TryDecode("rk1:" + Convert.ToBase64String([.. payload, 0]), out _, out _, out var trailing).Should().BeFalse();
        OffsetGapCodec.TryDecode("rk1:" + Convert.ToBase64String(payload[..^1]), out _, out _, out var truncated).Should().BeFalse();

        trailing.Should().Be("corrupt body");
        truncated.Should().Be("corrupt body");
    }

    [Fact]
    public void TryDecode_RandomBytesBehindThePrefix_NeverThrows()
    {
        var random = new Random(7);
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = new byte[random.Next(0, 64)];
            random.NextBytes(bytes);
            if (bytes.Length > 0)
            {
                bytes[0] = (byte)random.Next(0, 3); // often a plausible version
            }

            var metadata = "rk1:" + (random.Next(4) == 0 ? Encoding.UTF8.GetString(bytes) : Convert.ToBase64String(bytes));
            var act = () => OffsetGapCodec.TryDecode(metadata, out _, out _, out _);
            act.Should().NotThrow();
        }
    }
}
