using System.IO.Pipelines;
using PipelineServer.Protocols.Framing;
using PipelineServer.Testing;

namespace PipelineServer.Protocols.Tests;

/// <summary>
/// The hot path allocates nothing per message: an allocation budget of 0 bytes, checked with the runtime's exact
/// per-thread counter (deterministic, unlike a timing). BenchmarkDotNet's MemoryDiagnoser reports the same figures.
/// </summary>
public class AllocationTests
{
    private const int FramesPerBatch = 64;
    private const int Batches = 200;

    public static TheoryData<string> Codecs => new() { "length-field", "delimiter", "fixed", "varint" };

    [Theory]
    [MemberData(nameof(Codecs))]
    public void WritingAndReadingMessagesThroughAPipeAllocatesNothingInSteadyState(string codec)
    {
        var (reader, writer) = Create(codec);
        var pipe = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 0, useSynchronizationContext: false));
        var protocolReader = new ProtocolReader(pipe.Reader);
        var protocolWriter = new ProtocolWriter(pipe.Writer);
        var payload = new ReadOnlySequence<byte>("0123456789abcdefghijklmnopqrstuvwxyz"u8.ToArray());

        RoundTrip(protocolReader, protocolWriter, reader, writer, payload);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var messages = 0;
        for (var i = 0; i < Batches; i++)
        {
            messages += RoundTrip(protocolReader, protocolWriter, reader, writer, payload);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(Batches * FramesPerBatch, messages);
        Assert.Equal(0, allocated);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void ParsingAMultiSegmentBufferAllocatesNothing(string codec)
    {
        var (reader, writer) = Create(codec);
        var payload = new ReadOnlySequence<byte>("0123456789abcdefghijklmnopqrstuvwxyz"u8.ToArray());
        var stream = writer.WriteToArray([.. Enumerable.Repeat(payload, FramesPerBatch)]);
        var input = TestSequence.Chunk(stream, 13);

        Frames.ParseDirect(reader, input, static _ => [], out _);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var count = 0;
        for (var i = 0; i < Batches; i++)
        {
            count += ParseAll(reader, input);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(Batches * FramesPerBatch, count);
        Assert.Equal(0, allocated);
    }

#if !DEBUG
    // Release builds only: in Debug the compiler makes async state machines classes, so every await that suspends
    // allocates by design. CI (and README's test command) builds Release.
    [Fact]
    public async Task WaitingForASlowPeerAllocatesNothingInSteadyState()
    {
        // A pipe that pushes back after 1 KiB, read on this thread (inline schedulers), so the whole wait is measurable.
        var pipe = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 1024, resumeWriterThreshold: 512, useSynchronizationContext: false));
        var writer = new ProtocolWriter(pipe.Writer);
        var prepender = new LengthFieldPrepender();
        var payload = new ReadOnlySequence<byte>(new byte[4000]);

        var blockedRounds = 0;
        long allocated = 0;
        for (var i = -1; i < Batches; i++)
        {
            // Round -1 warms up; the others are measured.
            var before = GC.GetAllocatedBytesForCurrentThread();
            writer.Write(prepender, payload);
            var flush = writer.FlushAsync();
            blockedRounds += flush.IsCompleted ? 0 : 1;
            var read = await pipe.Reader.ReadAsync();
            pipe.Reader.AdvanceTo(read.Buffer.End);
            await flush;
            allocated += i < 0 ? 0 : GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Assert.Equal(Batches + 1, blockedRounds);
        Assert.Equal(0, allocated);
    }
#endif

    private static int ParseAll(IMessageReader<ReadOnlySequence<byte>> reader, ReadOnlySequence<byte> input)
    {
        var count = 0;
        while (!input.IsEmpty)
        {
            var consumed = input.Start;
            var examined = input.End;
            if (!reader.TryParseMessage(input, ref consumed, ref examined, out _))
            {
                break;
            }

            input = input.Slice(consumed);
            count++;
        }

        return count;
    }

    private static int RoundTrip(ProtocolReader protocolReader, ProtocolWriter protocolWriter, IMessageReader<ReadOnlySequence<byte>> reader, IMessageWriter<ReadOnlySequence<byte>> writer, ReadOnlySequence<byte> payload)
    {
        for (var i = 0; i < FramesPerBatch; i++)
        {
            protocolWriter.Write(writer, payload);
        }

        var flush = protocolWriter.FlushAsync();
        Assert.True(flush.IsCompletedSuccessfully);

        var count = 0;
        while (protocolReader.TryRead(reader, out var result) && result.HasMessage)
        {
            count += result.Message.Length == payload.Length ? 1 : 0;
            protocolReader.Advance();
        }

        return count;
    }

    private static (IMessageReader<ReadOnlySequence<byte>> Reader, IMessageWriter<ReadOnlySequence<byte>> Writer) Create(string codec) => codec switch
    {
        "length-field" => (new LengthFieldFrameReader(lengthFieldLength: 4, initialBytesToStrip: 4), new LengthFieldPrepender()),
        "delimiter" => (new DelimiterFrameReader("\r\n"u8), new DelimiterFrameWriter("\r\n"u8)),
        "fixed" => (new FixedLengthFrameReader(36), new FixedLengthFrameWriter(36)),
        "varint" => (new VarintFrameReader(), new VarintFrameWriter()),
        _ => throw new ArgumentOutOfRangeException(nameof(codec)),
    };
}
