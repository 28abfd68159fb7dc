using PipelineServer.Protocols.Framing;
using PipelineServer.Testing;
using static PipelineServer.Protocols.Tests.Frames;

namespace PipelineServer.Protocols.Tests.Framing;

public class FixedLengthFrameTests
{
    [Fact]
    public void SplitsTheStreamIntoFramesOfTheGivenLength()
    {
        var reader = new FixedLengthFrameReader(3);

        Frames.AssertSegmentationInvariant(reader, [1, 2, 3, 4, 5, 6, 7, 8, 9], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
    }

    [Fact]
    public void ReportsALeftoverPartialFrameAtTheEndAsTruncated()
    {
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(new FixedLengthFrameReader(4));
        embedded.WriteInbound([1, 2, 3, 4, 5]);
        embedded.CompleteInbound();

        Assert.True(embedded.TryRead(static f => f.ToArray(), out _));
        Assert.Equal(ProtocolErrorKind.Truncated, Assert.Throws<ProtocolException>(() => embedded.TryRead(static f => f.ToArray(), out _)).Kind);
    }

    [Fact]
    public void WriterRoundTripsAndRefusesOtherLengths()
    {
        var writer = new FixedLengthFrameWriter(4);
        var reader = new FixedLengthFrameReader(4);
        byte[][] frames = [[1, 2, 3, 4], [5, 6, 7, 8]];

        var stream = writer.WriteToArray(new ReadOnlySequence<byte>(frames[0]), TestSequence.Split(frames[1], 1, 3));

        Assert.Equal(frames, StreamByteByByte(reader, stream));
        var output = new ArrayBufferWriter<byte>();
        Assert.Throws<ArgumentException>(() => writer.WriteMessage(new ReadOnlySequence<byte>([1, 2, 3]), output));
        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void RejectsANonPositiveLength()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new FixedLengthFrameReader(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FixedLengthFrameWriter(-1));
    }

    [Fact]
    public void ProtocolReaderBoundsAFixedFrameLargerThanTheMessageLimit()
    {
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(new FixedLengthFrameReader(100), maxMessageSize: 10);
        embedded.WriteInbound(Payload(10));
        Assert.False(embedded.TryRead(static f => f.ToArray(), out _));
        embedded.WriteInbound(Payload(1));

        Assert.Equal(ProtocolErrorKind.MessageTooLarge, Assert.Throws<ProtocolException>(() => embedded.TryRead(static f => f.ToArray(), out _)).Kind);
    }
}
