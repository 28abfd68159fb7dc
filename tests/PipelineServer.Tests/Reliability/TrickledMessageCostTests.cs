using System.IO.Pipelines;
using System.Text;
using PipelineServer.Protocols;
using PipelineServer.Protocols.Framing;
using PipelineServer.Resp;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Reliability;

// A message trickled in many small arrivals must cost each arrival only its new bytes, not a new walk over everything
// buffered (issue 16: one connection trickling arguments of a half-million-argument RESP command kept a core busy).
// Measured without a clock: the pipe's blocks count every time a parser looks at a segment's bytes, and after every
// arrival the total must stay within a fixed number of segment reads per arrival plus per segment received. A parser
// that re-walks the buffer grows with the square of the arrivals and fails within a few hundred of them.
public class TrickledMessageCostTests
{
    // Segment reads allowed per arrival (the parser's entry, a header it re-reads, the segment it resumes in, the new
    // bytes) and per segment of the message (each is read about once as the parse passes through it). The parsers stay
    // under a quarter of this (6 reads per arrival at most); without per-connection state they passed it within 20 to
    // 610 arrivals.
    private const int ReadsPerArrival = 24;
    private const int ReadsPerSegment = 4;

    public static TheoryData<string> Parsers => new()
    {
        "resp command: 500,000 arguments, one per arrival",
        "resp command: one 1 MiB argument in 100-byte arrivals",
        "resp inline: a 64 KiB line in 7-byte arrivals",
        "resp value: a 200,000-element array nested in another, one element per arrival",
        "resp value: 100,000 bulk strings, one per arrival",
        "length field: a 1 MiB frame in 100-byte arrivals",
        "delimiter: a 1 MiB line in 7-byte arrivals",
        "delimiter: a 1 MiB frame before a 7-byte delimiter in 5-byte arrivals",
        "fixed length: a 1 MiB frame in 100-byte arrivals",
        "varint: a 1 MiB frame in 100-byte arrivals",
    };

    [Theory]
    [MemberData(nameof(Parsers))]
    public void ATrickledMessageCostsEachArrivalOnlyItsNewBytes(string parser)
    {
        const int Mebibyte = 1024 * 1024;
        switch (parser)
        {
            case "resp command: 500,000 arguments, one per arrival":
                Assert.Equal(500_000, Trickle(new RespCommandReader(), RespCommandArrivals(500_000), blockSize: 4096, static c => c.Count));
                break;
            case "resp command: one 1 MiB argument in 100-byte arrivals":
                Assert.Equal(2, Trickle(new RespCommandReader(), Cut([.. "*2\r\n$3\r\nSET\r\n"u8, .. Bulk(Mebibyte)], 100), blockSize: 512, static c => c.Count));
                break;
            case "resp inline: a 64 KiB line in 7-byte arrivals":
                Assert.Equal(2, Trickle(new RespCommandReader(), Cut([.. "GET "u8, .. Letters(64 * 1024 - 8), .. "\r\n"u8], 7), blockSize: 64, static c => c.Count));
                break;
            case "resp value: a 200,000-element array nested in another, one element per arrival":
                Assert.Equal(RespType.Array, Trickle(new RespValueReader(), NestedArrayArrivals(200_000), blockSize: 64, static v => v.Type));
                break;
            case "resp value: 100,000 bulk strings, one per arrival":
                Assert.Equal(100_000, Trickle(new RespValueReader(), BulkArrayArrivals(100_000), blockSize: 256, static v => v.Length));
                break;
            case "length field: a 1 MiB frame in 100-byte arrivals":
                Assert.Equal(Mebibyte, Trickle(new LengthFieldFrameReader(2 * Mebibyte, initialBytesToStrip: 4), Cut([0, 0x10, 0, 0, .. Letters(Mebibyte)], 100), blockSize: 512, static f => (int)f.Length));
                break;
            case "delimiter: a 1 MiB line in 7-byte arrivals":
                Assert.Equal(Mebibyte, Trickle(DelimiterFrameReader.Lines(maxFrameLength: 2 * Mebibyte), Cut([.. Letters(Mebibyte), .. "\r\n"u8], 7), blockSize: 64, static f => (int)f.Length));
                break;
            case "delimiter: a 1 MiB frame before a 7-byte delimiter in 5-byte arrivals":
                Assert.Equal(Mebibyte, Trickle(new DelimiterFrameReader("--END--"u8, maxFrameLength: 2 * Mebibyte), Cut([.. Letters(Mebibyte), .. "--END--"u8], 5), blockSize: 64, static f => (int)f.Length));
                break;
            case "fixed length: a 1 MiB frame in 100-byte arrivals":
                Assert.Equal(Mebibyte, Trickle(new FixedLengthFrameReader(Mebibyte), Cut(Letters(Mebibyte), 100), blockSize: 512, static f => (int)f.Length));
                break;
            case "varint: a 1 MiB frame in 100-byte arrivals":
                Assert.Equal(Mebibyte, Trickle(new VarintFrameReader(2 * Mebibyte), Cut([0x80, 0x80, 0x40, .. Letters(Mebibyte)], 100), blockSize: 512, static f => (int)f.Length));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(parser));
        }
    }

    // Feeds the arrivals through a real pipe into ProtocolReader, as a connection does, and returns what `inspect` makes
    // of the one message they hold. Fails as soon as the segment reads pass the linear budget.
    private static TResult Trickle<TMessage, TResult>(IMessageReader<TMessage> codec, IEnumerable<byte[]> arrivals, int blockSize, Func<TMessage, TResult> inspect)
    {
        var pool = new SegmentReadCountingPool(blockSize);
        var pipe = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, PipeScheduler.Inline, pauseWriterThreshold: 0, minimumSegmentSize: blockSize, useSynchronizationContext: false));
        var reader = new ProtocolReader(pipe.Reader, 64 * 1024 * 1024);
        long count = 0, bytes = 0, reads = 0;
        var results = new List<TResult>();
        foreach (var arrival in arrivals)
        {
            pipe.Writer.Write(arrival);
            Assert.True(pipe.Writer.FlushAsync().IsCompletedSuccessfully);
            count++;
            bytes += arrival.Length;

            var before = pool.Reads;
            while (reader.TryRead(codec, out var result) && result.HasMessage)
            {
                results.Add(inspect(result.Message));
                reader.Advance();
            }

            reads += pool.Reads - before;
            var budget = (ReadsPerArrival * count) + (ReadsPerSegment * ((bytes / blockSize) + 1));
            if (reads > budget)
            {
                Assert.Fail($"After {count} arrivals ({bytes} bytes, {(bytes / blockSize) + 1} segments) the parser had read segments {reads} times; the budget is {budget}: it is walking what is already buffered again.");
            }
        }

        pipe.Writer.Complete();
        pipe.Reader.Complete();
        return Assert.Single(results);
    }

    private static IEnumerable<byte[]> Cut(byte[] stream, int size)
    {
        for (var offset = 0; offset < stream.Length; offset += size)
        {
            yield return stream[offset..Math.Min(stream.Length, offset + size)];
        }
    }

    private static IEnumerable<byte[]> RespCommandArrivals(int arguments)
    {
        yield return Encoding.ASCII.GetBytes($"*{arguments}\r\n");
        for (var i = 0; i < arguments; i++)
        {
            yield return "$1\r\na\r\n"u8.ToArray();
        }
    }

    private static IEnumerable<byte[]> NestedArrayArrivals(int elements)
    {
        yield return Encoding.ASCII.GetBytes($"*1\r\n*{elements}\r\n");
        for (var i = 0; i < elements; i++)
        {
            yield return ":1\r\n"u8.ToArray();
        }
    }

    private static IEnumerable<byte[]> BulkArrayArrivals(int elements)
    {
        yield return Encoding.ASCII.GetBytes($"*{elements}\r\n");
        for (var i = 0; i < elements; i++)
        {
            yield return "$5\r\nvalue\r\n"u8.ToArray();
        }
    }

    private static byte[] Bulk(int length) => [.. Encoding.ASCII.GetBytes($"${length}\r\n"), .. Letters(length), .. "\r\n"u8];

    private static byte[] Letters(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)('a' + (i % 26));
        }

        return bytes;
    }
}
