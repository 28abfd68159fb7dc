using System.Text;
using PipelineServer.Protocols.Framing;
using PipelineServer.Testing;
using static PipelineServer.Protocols.Tests.Frames;

namespace PipelineServer.Protocols.Tests.Framing;

public class LengthFieldFrameReaderTests
{
    private static readonly byte[] s_hello = Encoding.ASCII.GetBytes("HELLO, WORLD");

    // Conformance vectors for length-field framing with Netty's semantics, kept here as this repository's own data: the
    // seven parameter sets of the worked examples in the documentation of Netty's LengthFieldBasedFrameDecoder. Columns:
    // length-field offset, length-field length, length adjustment, bytes to strip, the header on the wire (hex,
    // big-endian) and the start of the frame the reader must yield; on the wire and in the frame the header is followed
    // by the same 12-byte payload. The whole frame on the wire is the field's value + adjustment + offset + field length.
    public static TheoryData<int, int, int, int, string, string> NettyExamples => new()
    {
        { 0, 2, 0, 0, "000C", "000C" },                 // a 2-byte length, header kept
        { 0, 2, 0, 2, "000C", "" },                     // the same, header stripped
        { 0, 2, -2, 0, "000E", "000E" },                // a length that counts its own 2 bytes
        { 2, 3, 0, 0, "CAFE 00000C", "CAFE 00000C" },   // a 3-byte length after 2 other header bytes
        { 0, 3, 2, 0, "00000C CAFE", "00000C CAFE" },   // a 3-byte length, then 2 header bytes it does not count
        { 1, 2, 1, 3, "CA 000C FE", "FE" },             // a 2-byte length between 1-byte fields; the first 3 bytes stripped
        { 1, 2, -3, 3, "CA 0010 FE", "FE" },            // the same, with a length that counts the whole frame
    };

    [Theory]
    [MemberData(nameof(NettyExamples))]
    public void DecodesNettyConformanceExamples(int offset, int length, int adjustment, int strip, string header, string expectedPrefix)
    {
        var reader = new LengthFieldFrameReader(maxFrameLength: 1024, lengthFieldOffset: offset, lengthFieldLength: length, lengthAdjustment: adjustment, initialBytesToStrip: strip);
        var wire = Concat(Hex(header), s_hello);
        var expected = Concat(Hex(expectedPrefix), s_hello);

        // Three frames back to back, split every possible way into two and three segments.
        Frames.AssertSegmentationInvariant(reader, Concat(wire, wire, wire), [expected, expected, expected]);
        Assert.Equal([expected, expected], StreamByteByByte(reader, Concat(wire, wire)));
    }

    [Theory]
    [InlineData(1, ByteOrder.BigEndian)]
    [InlineData(2, ByteOrder.BigEndian)]
    [InlineData(2, ByteOrder.LittleEndian)]
    [InlineData(3, ByteOrder.BigEndian)]
    [InlineData(3, ByteOrder.LittleEndian)]
    [InlineData(4, ByteOrder.BigEndian)]
    [InlineData(4, ByteOrder.LittleEndian)]
    [InlineData(8, ByteOrder.BigEndian)]
    [InlineData(8, ByteOrder.LittleEndian)]
    public void RoundTripsEveryFieldLengthAndByteOrder(int fieldLength, ByteOrder order)
    {
        // The largest frame is the largest the field can describe (a 1-byte field: 255 payload bytes).
        var maxFrameLength = fieldLength == 1 ? 256 : 1000;
        var writer = new LengthFieldPrepender(lengthFieldLength: fieldLength, byteOrder: order);
        var reader = new LengthFieldFrameReader(maxFrameLength: maxFrameLength, lengthFieldLength: fieldLength, initialBytesToStrip: fieldLength, byteOrder: order);
        byte[][] payloads = [[], [42], Payload(200), Payload(maxFrameLength - fieldLength)];

        var stream = writer.WriteToArray([.. payloads.Select(static p => new ReadOnlySequence<byte>(p))]);

        Frames.AssertSegmentationInvariant(reader, stream[..(2 * fieldLength + 1 + 200 + fieldLength)], payloads[..3]);
        Assert.Equal(payloads, StreamByteByByte(reader, stream));
    }

    [Fact]
    public void ReadsLengthFieldsAsUnsignedUpToFourBytes()
    {
        var reader = new LengthFieldFrameReader(maxFrameLength: int.MaxValue, lengthFieldLength: 4);

        // Read as a signed int, 0xFFFFFFF0 would be negative (Malformed); unsigned, it declares a frame that is too large.
        var ex = ParseError(reader, Hex("FFFFFFF0 00"));

        Assert.Equal(ProtocolErrorKind.MessageTooLarge, ex.Kind);
        Assert.Contains("4294967284", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AcceptsAFrameOfExactlyTheMaximumLength()
    {
        var reader = new LengthFieldFrameReader(maxFrameLength: 104, lengthFieldLength: 4, initialBytesToStrip: 4);
        var payload = Payload(100);

        var frames = StreamByteByByte(reader, Concat(Hex("00000064"), payload), maxMessageSize: 104);

        Assert.Equal([payload], frames);
    }

    [Fact]
    public void RejectsAFrameOneByteOverTheMaximumAsSoonAsTheHeaderArrives()
    {
        var reader = new LengthFieldFrameReader(maxFrameLength: 104, lengthFieldLength: 4, initialBytesToStrip: 4);
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(reader);

        embedded.WriteInbound(Hex("000000"));
        Assert.False(embedded.TryRead(static f => f.ToArray(), out _));
        embedded.WriteInbound(Hex("65"));
        var ex = Assert.Throws<ProtocolException>(() => embedded.TryRead(static f => f.ToArray(), out _));

        Assert.Equal(ProtocolErrorKind.MessageTooLarge, ex.Kind);
        Assert.Equal("The frame length 105 exceeds the maximum of 104 bytes.", ex.Message);
    }

    [Fact]
    public void RejectsAHugeDeclaredLengthWithoutWaitingForTheBody()
    {
        var reader = new LengthFieldFrameReader(lengthFieldLength: 4, initialBytesToStrip: 4);

        var ex = ParseError(reader, Hex("7FFFFFFF"));

        Assert.Equal(ProtocolErrorKind.MessageTooLarge, ex.Kind);
    }

    [Fact]
    public void RejectsANegativeEightByteLength()
    {
        var reader = new LengthFieldFrameReader(lengthFieldLength: 8);
        var ex = ParseError(reader, Hex("FFFFFFFFFFFFFFFF"));

        Assert.Equal(ProtocolErrorKind.Malformed, ex.Kind);
        Assert.Contains("negative", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RejectsAnEightByteLengthThatWouldOverflowWhenAdjusted()
    {
        var reader = new LengthFieldFrameReader(lengthFieldLength: 8, lengthAdjustment: 100);
        var ex = ParseError(reader, Hex("7FFFFFFFFFFFFFFF"));

        Assert.Equal(ProtocolErrorKind.MessageTooLarge, ex.Kind);
        // The reported length is the true sum, not a wrapped-around negative number.
        Assert.Contains("9223372036854775915", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RejectsAFrameShorterThanItsOwnHeader()
    {
        var reader = new LengthFieldFrameReader(lengthFieldLength: 2, lengthAdjustment: -4);
        var ex = ParseError(reader, Hex("0001 00"));

        Assert.Equal(ProtocolErrorKind.Malformed, ex.Kind);
        Assert.Contains("less than the end of the length field", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RejectsStrippingMoreBytesThanTheFrameHolds()
    {
        var reader = new LengthFieldFrameReader(lengthFieldLength: 2, initialBytesToStrip: 5);
        var ex = ParseError(reader, Hex("0001 00"));

        Assert.Equal(ProtocolErrorKind.Malformed, ex.Kind);
        Assert.Contains("strip", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReportsAStreamThatEndsInsideAFrameAsTruncated()
    {
        var reader = new LengthFieldFrameReader(lengthFieldLength: 4, initialBytesToStrip: 4);
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(reader);
        embedded.WriteInbound(Concat(Hex("00000002 AAAA"), Hex("00000005 BBBB")));

        Assert.Equal([[0xAA, 0xAA]], embedded.ReadAll(static f => f.ToArray()));
        embedded.CompleteInbound();
        var ex = Assert.Throws<ProtocolException>(() => embedded.ReadAll(static f => f.ToArray()));

        Assert.Equal(ProtocolErrorKind.Truncated, ex.Kind);
        Assert.Contains("6 bytes", ex.Message, StringComparison.Ordinal);
        Assert.False(embedded.IsCompleted);
    }

    [Fact]
    public void ReportsAStreamThatEndsInsideAHeaderAsTruncated()
    {
        var reader = new LengthFieldFrameReader(lengthFieldLength: 4);
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(reader);
        embedded.WriteInbound(Hex("0000"));
        embedded.CompleteInbound();

        var ex = Assert.Throws<ProtocolException>(() => embedded.ReadAll(static f => f.ToArray()));

        Assert.Equal(ProtocolErrorKind.Truncated, ex.Kind);
    }

    [Fact]
    public void EndsCleanlyOnAFrameBoundary()
    {
        var reader = new LengthFieldFrameReader(lengthFieldLength: 1, initialBytesToStrip: 1);
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(reader);
        embedded.WriteInbound(Hex("01 41 00"));
        embedded.CompleteInbound();

        Assert.Equal([[0x41], []], embedded.ReadAll(static f => f.ToArray()));
        Assert.True(embedded.IsCompleted);
    }

    [Theory]
    [InlineData(0, 0, 5, 0)]
    [InlineData(0, -1, 4, 0)]
    [InlineData(0, 0, 4, -1)]
    [InlineData(10, 8, 4, 0)]
    [InlineData(16, 13, 4, 0)]
    public void RejectsInvalidParameters(int maxFrameLength, int offset, int length, int strip)
    {
        Assert.ThrowsAny<ArgumentException>(() => new LengthFieldFrameReader(
            maxFrameLength: maxFrameLength == 0 ? 1024 : maxFrameLength,
            lengthFieldOffset: offset,
            lengthFieldLength: length,
            initialBytesToStrip: strip));
    }

    private static ProtocolException ParseError(LengthFieldFrameReader reader, byte[] bytes)
    {
        var input = new ReadOnlySequence<byte>(bytes);
        var consumed = input.Start;
        var examined = input.End;
        return Assert.Throws<ProtocolException>(() => reader.TryParseMessage(input, ref consumed, ref examined, out _));
    }
}
