using PipelineServer.Protocols.Framing;
using PipelineServer.Testing;
using static PipelineServer.Protocols.Tests.Frames;

namespace PipelineServer.Protocols.Tests.Framing;

public class LengthFieldPrependerTests
{
    [Theory]
    [InlineData(1, ByteOrder.BigEndian, "03")]
    [InlineData(2, ByteOrder.BigEndian, "0003")]
    [InlineData(2, ByteOrder.LittleEndian, "0300")]
    [InlineData(3, ByteOrder.BigEndian, "000003")]
    [InlineData(3, ByteOrder.LittleEndian, "030000")]
    [InlineData(4, ByteOrder.BigEndian, "00000003")]
    [InlineData(4, ByteOrder.LittleEndian, "03000000")]
    [InlineData(8, ByteOrder.BigEndian, "0000000000000003")]
    [InlineData(8, ByteOrder.LittleEndian, "0300000000000000")]
    public void WritesTheLengthThenThePayload(int fieldLength, ByteOrder order, string header)
    {
        var writer = new LengthFieldPrepender(lengthFieldLength: fieldLength, byteOrder: order);

        var bytes = writer.WriteToArray(new ReadOnlySequence<byte>([1, 2, 3]));

        Assert.Equal(Concat(Hex(header), [1, 2, 3]), bytes);
    }

    [Fact]
    public void AppliesTheAdjustmentAndCountsTheFieldWhenAsked()
    {
        var writer = new LengthFieldPrepender(lengthFieldLength: 2, lengthAdjustment: 1, lengthIncludesLengthFieldLength: true);

        Assert.Equal(Hex("0006 010203"), writer.WriteToArray(new ReadOnlySequence<byte>([1, 2, 3])));
    }

    [Fact]
    public void CopiesAMultiSegmentPayload()
    {
        var writer = new LengthFieldPrepender();
        var payload = Payload(10_000);

        var bytes = writer.WriteToArray(TestSequence.Chunk(payload, 333));

        Assert.Equal(Concat(Hex("00002710"), payload), bytes);
    }

    [Theory]
    [InlineData(1, 255, true)]
    [InlineData(1, 256, false)]
    [InlineData(2, 65535, true)]
    [InlineData(2, 65536, false)]
    [InlineData(3, 0xFFFFFF, true)]
    [InlineData(3, 0x1000000, false)]
    public void RefusesALengthThatDoesNotFitTheFieldBeforeWritingAnything(int fieldLength, int payloadLength, bool fits)
    {
        var writer = new LengthFieldPrepender(lengthFieldLength: fieldLength);
        var output = new ArrayBufferWriter<byte>();
        var payload = new ReadOnlySequence<byte>(new byte[payloadLength]);

        if (fits)
        {
            writer.WriteMessage(payload, output);
            Assert.Equal(fieldLength + payloadLength, output.WrittenCount);
        }
        else
        {
            var ex = Assert.Throws<ArgumentException>(() => writer.WriteMessage(payload, output));
            Assert.Contains("does not fit", ex.Message, StringComparison.Ordinal);
            Assert.Equal(0, output.WrittenCount);
        }
    }

    [Fact]
    public void RefusesANegativeAdjustedLength()
    {
        var writer = new LengthFieldPrepender(lengthAdjustment: -5);
        var output = new ArrayBufferWriter<byte>();

        Assert.Throws<ArgumentException>(() => writer.WriteMessage(new ReadOnlySequence<byte>([1, 2]), output));
        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void MatchesTheReaderWhenTheLengthIncludesTheHeader()
    {
        // Netty's example 3: the field counts the header, undone on the reading side by a -2 adjustment.
        var writer = new LengthFieldPrepender(lengthFieldLength: 2, lengthIncludesLengthFieldLength: true);
        var reader = new LengthFieldFrameReader(lengthFieldLength: 2, lengthAdjustment: -2, initialBytesToStrip: 2);
        byte[][] payloads = [[], [9], Payload(300)];

        var stream = writer.WriteToArray([.. payloads.Select(static p => new ReadOnlySequence<byte>(p))]);

        Assert.Equal(payloads, StreamByteByByte(reader, stream));
    }
}
