using System.IO.Pipelines;
using PipelineServer.Middleware;
using PipelineServer.Testing;

namespace PipelineServer.Fuzz;

public static partial class FuzzTargets
{
    private const int MaxV2Length = ProxyProtocolParser.V2HeaderLength + ushort.MaxValue;

    /// <summary>
    /// <c>ProxyProtocolParser</c> (PROXY protocol v1 and v2), driven as <c>ProxyProtocolMiddleware</c> drives it: the
    /// stream arrives through a pipe in pieces and the growing, many-segment buffer is parsed after each until the
    /// parser decides. The decision must be the one the parser makes on the whole stream at once. The options byte is
    /// not used.
    /// </summary>
    /// <param name="data">The input.</param>
    public static void ProxyHeaders(ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        if (input.Stream.IsEmpty)
        {
            return; // the middleware never parses an empty buffer
        }

        var arriving = ParseAsArriving(input.Stream, input.Segmentation);
        var everything = new ReadOnlySequence<byte>(input.Stream.ToArray());
        var status = ProxyProtocolParser.TryParse(everything, out var header, out var error);
        var whole = Check(status, header, error, everything);
        if (arriving != whole)
        {
            throw new FuzzFailureException($"Parsed as it arrived ({input.Segmentation}): {arriving}; parsed in one piece: {whole}.");
        }
    }

    private static ProxyDecision ParseAsArriving(ReadOnlySpan<byte> stream, Segmentation segmentation)
    {
        var pool = new TestMemoryPool(segmentation.BlockSize);
        var pipe = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, PipeScheduler.Inline, pauseWriterThreshold: 0, minimumSegmentSize: 1, useSynchronizationContext: false));
        var decision = new ProxyDecision(ProxyParseStatus.NeedMoreData, 0, null, null);
        try
        {
            var offset = 0;
            foreach (var size in segmentation.ChunkSizes(stream.Length))
            {
                pipe.Writer.Write(stream.Slice(offset, size));
                offset += size;
                pipe.Writer.FlushAsync().GetAwaiter().GetResult();

                var read = pipe.Reader.ReadAsync();
                if (!read.IsCompleted)
                {
                    throw new FuzzFailureException("The pipe had no data right after a write.");
                }

                var buffer = read.Result.Buffer;
                var status = ProxyProtocolParser.TryParse(buffer, out var header, out var error);
                decision = Check(status, header, error, buffer);
                if (status == ProxyParseStatus.NeedMoreData)
                {
                    pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
                    continue;
                }

                pipe.Reader.AdvanceTo(status == ProxyParseStatus.Parsed ? buffer.GetPosition(header.Length) : buffer.Start);
                break;
            }
        }
        finally
        {
            pipe.Reader.Complete();
            pipe.Writer.Complete();
        }

        if (pool.OutstandingBlocks != 0)
        {
            throw new FuzzFailureException($"{pool.OutstandingBlocks} pipe blocks were not returned to the pool.");
        }

        return decision;
    }

    private static ProxyDecision Check(ProxyParseStatus status, in ProxyHeader header, string? error, in ReadOnlySequence<byte> buffer)
    {
        switch (status)
        {
            case ProxyParseStatus.Parsed:
                if (header.Length <= 0 || header.Length > buffer.Length || header.Length > MaxV2Length)
                {
                    throw new FuzzFailureException($"A parsed header of {header.Length} bytes from a buffer of {buffer.Length}.");
                }

                if ((header.Source is null) != (header.Destination is null))
                {
                    throw new FuzzFailureException("A parsed header with only one of its two addresses.");
                }

                if (buffer.FirstSpan[0] == (byte)'P'
                    && (header.Length > ProxyProtocolParser.V1MaxLength || !buffer.Slice(header.Length - 2, 2).ToArray().AsSpan().SequenceEqual("\r\n"u8)))
                {
                    throw new FuzzFailureException($"A version 1 header of {header.Length} bytes that does not end its line.");
                }

                break;
            case ProxyParseStatus.Invalid when string.IsNullOrEmpty(error):
                throw new FuzzFailureException("An invalid header without a reason.");
            case ProxyParseStatus.NeedMoreData when buffer.Length >= MaxV2Length:
                throw new FuzzFailureException($"The parser wants more than {buffer.Length} bytes: the buffering is unbounded.");
        }

        return new ProxyDecision(status, header.Length, header.Source?.ToString(), header.Destination?.ToString());
    }

    private readonly record struct ProxyDecision(ProxyParseStatus Status, int Length, string? Source, string? Destination);
}
