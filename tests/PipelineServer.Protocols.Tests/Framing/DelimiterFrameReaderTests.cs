using System.Text;
using PipelineServer.Protocols.Framing;
using PipelineServer.Testing;
using static PipelineServer.Protocols.Tests.Frames;

namespace PipelineServer.Protocols.Tests.Framing;

public class DelimiterFrameReaderTests
{
    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    [Fact]
    public void SplitsLinesEndedByCrLfOrLf()
    {
        var reader = DelimiterFrameReader.Lines();

        Frames.AssertSegmentationInvariant(reader, Ascii("first\r\nsecond\n\r\nlast\n"), [Ascii("first"), Ascii("second"), [], Ascii("last")]);
    }

    [Fact]
    public void KeepsTheDelimiterWhenAsked()
    {
        var reader = DelimiterFrameReader.Lines(stripDelimiter: false);

        Frames.AssertSegmentationInvariant(reader, Ascii("a\r\nb\n"), [Ascii("a\r\n"), Ascii("b\n")]);
    }

    [Fact]
    public void PicksTheDelimiterThatGivesTheShortestFrame()
    {
        var reader = DelimiterFrameReader.Create([Ascii("END"), Ascii("|")]);

        Frames.AssertSegmentationInvariant(reader, Ascii("ab|cdENDe|fgEND"), [Ascii("ab"), Ascii("cd"), Ascii("e"), Ascii("fg")]);
    }

    [Fact]
    public void PrefersTheLongerDelimiterWhenTwoMatchAtTheSamePlace()
    {
        var reader = DelimiterFrameReader.Create([Ascii("\r"), Ascii("\r\n")]);

        Frames.AssertSegmentationInvariant(reader, Ascii("a\r\nb\rc\r\n"), [Ascii("a"), Ascii("b"), Ascii("c")]);
    }

    [Fact]
    public void WaitsWhileTheBufferMayEndInsideALongerDelimiter()
    {
        // Found by fuzzing (tests/PipelineServer.Fuzz): "a\r" was cut at the "\r" at once, so "a\r" then "\n" gave the
        // frames "a" and "" where "a\r\n" in one read gave "a".
        var reader = DelimiterFrameReader.Create([Ascii("\r\n"), Ascii("\r"), Ascii("\n")]);
        var stream = Ascii("a\r\nb\rc\nd\r\r\n");
        byte[][] expected = [Ascii("a"), Ascii("b"), Ascii("c"), Ascii("d"), []];

        Frames.AssertSegmentationInvariant(reader, stream, expected);
        Assert.Equal(expected, StreamByteByByte(reader, stream));
    }

    [Fact]
    public void AStreamThatEndsWhereALongerDelimiterMayFollowIsTruncated()
    {
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(DelimiterFrameReader.Create([Ascii("\r\n"), Ascii("\r")]));

        embedded.WriteInbound(Ascii("a\r"));
        Assert.False(embedded.TryRead(static f => f.ToArray(), out _));
        embedded.CompleteInbound();

        var error = Assert.Throws<ProtocolException>(() => embedded.TryRead(static f => f.ToArray(), out _));
        Assert.Equal(ProtocolErrorKind.Truncated, error.Kind);
    }

    [Fact]
    public void FindsAMultiByteDelimiterSplitAcrossSegments()
    {
        var reader = new DelimiterFrameReader("<EOF>"u8);
        var stream = Ascii("hello<EOF>world<EOF>");

        Frames.AssertSegmentationInvariant(reader, stream, [Ascii("hello"), Ascii("world")]);
        Assert.Equal([Ascii("hello"), Ascii("world")], StreamByteByByte(reader, stream));
    }

    [Fact]
    public void FindsADelimiterWhoseFirstBytesRepeatInThePayload()
    {
        var reader = new DelimiterFrameReader("aab"u8);

        Frames.AssertSegmentationInvariant(reader, Ascii("xaaaabyaabaab"), [Ascii("xaa"), Ascii("y"), []]);
    }

    [Fact]
    public void AcceptsAFrameOfExactlyTheMaximumLengthDelimiterIncluded()
    {
        var reader = new DelimiterFrameReader("\n"u8, maxFrameLength: 6);

        Assert.Equal([Ascii("12345")], StreamByteByByte(reader, Ascii("12345\n"), maxMessageSize: 6));
    }

    [Fact]
    public void RejectsAFrameWhoseDelimiterLiesBeyondTheMaximum()
    {
        var reader = new DelimiterFrameReader("\n"u8, maxFrameLength: 6);
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(reader);

        embedded.WriteInbound(Ascii("123456\n"));
        var ex = Assert.Throws<ProtocolException>(() => embedded.ReadAll(static f => f.ToArray()));

        Assert.Equal(ProtocolErrorKind.MessageTooLarge, ex.Kind);
        Assert.Equal("The frame length 7 exceeds the maximum of 6 bytes.", ex.Message);
    }

    [Fact]
    public void RejectsAsSoonAsTheMaximumIsBufferedWithoutADelimiter()
    {
        var reader = new DelimiterFrameReader("\n"u8, maxFrameLength: 64);
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(reader);

        embedded.WriteInbound(new byte[63]);
        Assert.Empty(embedded.ReadAll(static f => f.ToArray()));
        embedded.WriteInbound(new byte[1]);
        var ex = Assert.Throws<ProtocolException>(() => embedded.ReadAll(static f => f.ToArray()));

        Assert.Equal(ProtocolErrorKind.MessageTooLarge, ex.Kind);
    }

    [Fact]
    public void ReportsATrailingLineWithoutItsDelimiterAsTruncated()
    {
        var reader = DelimiterFrameReader.Lines();
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(reader);
        embedded.WriteInbound(Ascii("done\npartial"));
        embedded.CompleteInbound();

        Assert.True(embedded.TryRead(static f => f.ToArray(), out var first));
        Assert.Equal(Ascii("done"), first);
        var ex = Assert.Throws<ProtocolException>(() => embedded.TryRead(static f => f.ToArray(), out _));
        Assert.Equal(ProtocolErrorKind.Truncated, ex.Kind);
    }

    [Fact]
    public void RejectsEmptyDelimiters()
    {
        Assert.Throws<ArgumentException>(() => new DelimiterFrameReader(ReadOnlySpan<byte>.Empty));
        Assert.Throws<ArgumentException>(() => DelimiterFrameReader.Create([]));
        Assert.Throws<ArgumentException>(() => DelimiterFrameReader.Create([Ascii("\n"), []]));
        Assert.Throws<ArgumentException>(() => new DelimiterFrameWriter(ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void WriterAppendsTheDelimiterAndRoundTrips()
    {
        var writer = new DelimiterFrameWriter("\r\n"u8);
        var reader = DelimiterFrameReader.Lines();
        var big = Enumerable.Repeat((byte)'x', 9000).ToArray();

        var stream = writer.WriteToArray(new ReadOnlySequence<byte>(Ascii("one")), ReadOnlySequence<byte>.Empty, TestSequence.Chunk(big, 1000));

        Assert.Equal(Concat(Ascii("one\r\n\r\n"), big, Ascii("\r\n")), stream);
        Assert.Equal([Ascii("one"), [], big], StreamByteByByte(reader, stream));
    }
}
