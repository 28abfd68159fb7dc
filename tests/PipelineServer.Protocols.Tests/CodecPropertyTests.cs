using CsCheck;
using PipelineServer.Protocols.Framing;
using PipelineServer.Testing;

namespace PipelineServer.Protocols.Tests;

/// <summary>
/// Property tests: for random payloads and random segmentations, every codec reads back exactly what its writer wrote,
/// both when parsing a segmented sequence directly and when the bytes arrive in random chunks through a real pipe.
/// </summary>
public class CodecPropertyTests
{
    private const int Iterations = 300;

    private static readonly Gen<List<byte[]>> s_payloads = Gen.Byte.Array[0, 300].List[0, 12];
    private static readonly Gen<int[]> s_chunks = Gen.Int[1, 97].Array[1, 40];

    public static TheoryData<string> Codecs => new()
    {
        "length-field 1 byte",
        "length-field 2 bytes little-endian",
        "length-field 3 bytes, header kept",
        "length-field 4 bytes, length includes header",
        "length-field 8 bytes",
        "varint",
        "fixed 37",
        "delimiter CRLF",
        "delimiter multi",
    };

    [Theory]
    [MemberData(nameof(Codecs))]
    public void WriteThenReadRoundTripsWhateverTheSegmentation(string codec)
    {
        var (reader, writer, shape, expect) = Create(codec);
        Gen.Select(s_payloads, s_chunks, Gen.Int[1, 64]).Sample((payloads, chunks, blockSize) =>
        {
            var shaped = payloads.Select(shape).ToList();
            var stream = writer.WriteToArray([.. shaped.Select(static p => new ReadOnlySequence<byte>(p))]);
            var expected = shaped.Select(expect).ToList();

            // Directly over a sequence cut at the chunk boundaries.
            var direct = Frames.ParseDirect(reader, TestSequence.Split(stream, CutPoints(stream.Length, chunks)), out var leftover);
            Assert.Equal(0, leftover);
            Assert.Equal(expected, direct);

            // Through a pipe with small blocks, each chunk a separate arrival.
            using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(reader, blockSize: blockSize);
            var streamed = new List<byte[]>();
            var offset = 0;
            foreach (var size in Chunks(stream.Length, chunks))
            {
                embedded.WriteInbound(stream.AsSpan(offset, size));
                offset += size;
                streamed.AddRange(embedded.ReadAll(static f => f.ToArray()));
            }

            embedded.CompleteInbound();
            streamed.AddRange(embedded.ReadAll(static f => f.ToArray()));
            Assert.True(embedded.IsCompleted);
            Assert.Equal(expected, streamed);
        }, iter: Iterations);
    }

    private static (IMessageReader<ReadOnlySequence<byte>> Reader, IMessageWriter<ReadOnlySequence<byte>> Writer, Func<byte[], byte[]> Shape, Func<byte[], byte[]> Expect) Create(string codec)
    {
        static byte[] Same(byte[] p) => p;
        // Delimited payloads must not contain the delimiter bytes.
        static byte[] Letters(byte[] p) => p.Select(static b => (byte)('a' + (b % 26))).ToArray();
        static byte[] Pad37(byte[] p) => p.Concat(new byte[37]).Take(37).ToArray();

        return codec switch
        {
            "length-field 1 byte" => (new LengthFieldFrameReader(lengthFieldLength: 1, initialBytesToStrip: 1), new LengthFieldPrepender(lengthFieldLength: 1), static p => p[..Math.Min(p.Length, 255)], Same),
            "length-field 2 bytes little-endian" => (new LengthFieldFrameReader(lengthFieldLength: 2, initialBytesToStrip: 2, byteOrder: ByteOrder.LittleEndian), new LengthFieldPrepender(lengthFieldLength: 2, byteOrder: ByteOrder.LittleEndian), Same, Same),
            "length-field 3 bytes, header kept" => (new LengthFieldFrameReader(lengthFieldLength: 3), new LengthFieldPrepender(lengthFieldLength: 3), Same, static p => [(byte)(p.Length >> 16), (byte)(p.Length >> 8), (byte)p.Length, .. p]),
            "length-field 4 bytes, length includes header" => (new LengthFieldFrameReader(lengthFieldLength: 4, lengthAdjustment: -4, initialBytesToStrip: 4), new LengthFieldPrepender(lengthFieldLength: 4, lengthIncludesLengthFieldLength: true), Same, Same),
            "length-field 8 bytes" => (new LengthFieldFrameReader(lengthFieldLength: 8, initialBytesToStrip: 8), new LengthFieldPrepender(lengthFieldLength: 8), Same, Same),
            "varint" => (new VarintFrameReader(), new VarintFrameWriter(), Same, Same),
            "fixed 37" => (new FixedLengthFrameReader(37), new FixedLengthFrameWriter(37), Pad37, Same),
            "delimiter CRLF" => (DelimiterFrameReader.Lines(), new DelimiterFrameWriter("\r\n"u8), Letters, Same),
            "delimiter multi" => (new DelimiterFrameReader("--END--"u8), new DelimiterFrameWriter("--END--"u8), Letters, Same),
            _ => throw new ArgumentOutOfRangeException(nameof(codec)),
        };
    }

    private static IEnumerable<int> Chunks(int length, int[] sizes)
    {
        var offset = 0;
        var i = 0;
        while (offset < length)
        {
            var size = Math.Min(sizes[i++ % sizes.Length], length - offset);
            yield return size;
            offset += size;
        }
    }

    private static int[] CutPoints(int length, int[] sizes)
    {
        var points = new List<int>();
        var offset = 0;
        foreach (var size in Chunks(length, sizes))
        {
            offset += size;
            if (offset < length)
            {
                points.Add(offset);
            }
        }

        return [.. points];
    }
}
