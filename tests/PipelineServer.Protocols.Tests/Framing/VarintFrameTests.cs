using PipelineServer.Protocols.Framing;
using PipelineServer.Testing;
using static PipelineServer.Protocols.Tests.Frames;

namespace PipelineServer.Protocols.Tests.Framing;

public class VarintFrameTests
{
    [Theory]
    [InlineData(0, "00")]
    [InlineData(1, "01")]
    [InlineData(127, "7F")]
    [InlineData(128, "8001")]
    [InlineData(300, "AC02")]
    [InlineData(16384, "808001")]
    public void WritesTheShortestVarintPrefix(int length, string prefix)
    {
        var payload = Payload(length);

        var bytes = new VarintFrameWriter().WriteToArray(new ReadOnlySequence<byte>(payload));

        Assert.Equal(Concat(Hex(prefix), payload), bytes);
    }

    [Fact]
    public void ReadsFramesWhateverTheSegmentation()
    {
        var reader = new VarintFrameReader();
        byte[][] payloads = [[], [7], Payload(130)];
        var stream = new VarintFrameWriter().WriteToArray([.. payloads.Select(static p => new ReadOnlySequence<byte>(p))]);

        Frames.AssertSegmentationInvariant(reader, stream, payloads);
        Assert.Equal(payloads, StreamByteByByte(reader, stream));
    }

    [Fact]
    public void AcceptsNonMinimalEncodingsAsProtobufDoes()
    {
        var frames = Frames.ParseDirect(new VarintFrameReader(), new ReadOnlySequence<byte>(Hex("8280808000 4142")), out var leftover);

        Assert.Equal([[0x41, 0x42]], frames);
        Assert.Equal(0, leftover);
    }

    [Fact]
    public void RejectsAPrefixLongerThanFiveBytes()
    {
        var ex = ParseError(Hex("8080808080"));

        Assert.Equal(ProtocolErrorKind.Malformed, ex.Kind);
        Assert.Contains("longer than 5 bytes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RejectsAPrefixThatOverflowsThirtyTwoBits()
    {
        var ex = ParseError(Hex("FFFFFFFF1F"));

        Assert.Equal(ProtocolErrorKind.Malformed, ex.Kind);
        Assert.Contains("32 bits", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RejectsAnOverLongPrefixSplitAcrossSegments()
    {
        var reader = new VarintFrameReader();
        var input = TestSequence.Split(Hex("8080808080"), 1, 2, 3, 4);
        var consumed = input.Start;
        var examined = input.End;

        Assert.Equal(ProtocolErrorKind.Malformed, Assert.Throws<ProtocolException>(() => reader.TryParseMessage(input, ref consumed, ref examined, out _)).Kind);
    }

    [Fact]
    public void ChecksTheMaximumAgainstPrefixPlusPayloadAsSoonAsThePrefixIsRead()
    {
        var reader = new VarintFrameReader(maxFrameLength: 130);
        Assert.Equal([Payload(128)], StreamByteByByte(reader, Concat(Hex("8001"), Payload(128)), maxMessageSize: 130));

        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(reader, maxMessageSize: 130);
        embedded.WriteInbound(Hex("8101"));
        var ex = Assert.Throws<ProtocolException>(() => embedded.TryRead(static f => f.ToArray(), out _));
        Assert.Equal(ProtocolErrorKind.MessageTooLarge, ex.Kind);
        Assert.Equal("The frame length 131 exceeds the maximum of 130 bytes.", ex.Message);
    }

    [Fact]
    public void WaitsForAnIncompletePrefix()
    {
        var frames = Frames.ParseDirect(new VarintFrameReader(), new ReadOnlySequence<byte>(Hex("8080")), out var leftover);

        Assert.Empty(frames);
        Assert.Equal(2, leftover);
    }

    private static ProtocolException ParseError(byte[] bytes)
    {
        var reader = new VarintFrameReader(maxFrameLength: int.MaxValue);
        var input = new ReadOnlySequence<byte>(bytes);
        var consumed = input.Start;
        var examined = input.End;
        return Assert.Throws<ProtocolException>(() => reader.TryParseMessage(input, ref consumed, ref examined, out _));
    }
}
