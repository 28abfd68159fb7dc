using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using PipelineServer.Protocols;
using PipelineServer.Protocols.Framing;

namespace PipelineServer.Benchmarks;

/// <summary>
/// The cost ProtocolReader and ProtocolWriter add over raw pipe code: a batch of 64 length-prefixed frames goes through
/// a Pipe and is read back, once by hand against the PipeReader (the baseline) and once through ProtocolReader with the
/// length-field codec. Per frame (OperationsPerInvoke = 64).
/// </summary>
[Config(typeof(BenchmarkConfig))]
public class ProtocolReaderBenchmarks
{
    private const int Frames = 64;

    private readonly LengthFieldFrameReader _codec = new(lengthFieldLength: 4, initialBytesToStrip: 4);
    private readonly LengthFieldPrepender _prepender = new();
    private Pipe _pipe = null!;
    private ProtocolReader _reader = null!;
    private ProtocolWriter _writer = null!;
    private byte[] _batch = null!;
    private ReadOnlySequence<byte> _payload;

    [Params(16, 1024)]
    public int PayloadSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pipe = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 0, useSynchronizationContext: false));
        _reader = new ProtocolReader(_pipe.Reader);
        _writer = new ProtocolWriter(_pipe.Writer);
        _payload = new ReadOnlySequence<byte>(new byte[PayloadSize]);
        _batch = new byte[Frames * (4 + PayloadSize)];
        for (var i = 0; i < Frames; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(_batch.AsSpan(i * (4 + PayloadSize)), PayloadSize);
        }

        if (RawPipe() != Frames || ProtocolReaderWithCodec() != Frames || ProtocolWriterThenReader() != Frames)
        {
            throw new InvalidOperationException("A benchmark did not see every frame.");
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Frames)]
    public int RawPipe()
    {
        _pipe.Writer.Write(_batch);
        _pipe.Writer.FlushAsync().GetAwaiter().GetResult();

        var count = 0;
        _pipe.Reader.TryRead(out var result);
        var buffer = result.Buffer;
        Span<byte> header = stackalloc byte[4];
        while (buffer.Length >= 4)
        {
            buffer.Slice(0, 4).CopyTo(header);
            var length = BinaryPrimitives.ReadInt32BigEndian(header);
            if (buffer.Length < 4 + length)
            {
                break;
            }

            buffer = buffer.Slice(4 + length);
            count++;
        }

        _pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
        return count;
    }

    [Benchmark(OperationsPerInvoke = Frames)]
    public int ProtocolReaderWithCodec()
    {
        _pipe.Writer.Write(_batch);
        _pipe.Writer.FlushAsync().GetAwaiter().GetResult();
        return ReadBatch();
    }

    [Benchmark(OperationsPerInvoke = Frames)]
    public int ProtocolWriterThenReader()
    {
        for (var i = 0; i < Frames; i++)
        {
            _writer.Write(_prepender, _payload);
        }

        _writer.FlushAsync().GetAwaiter().GetResult();
        return ReadBatch();
    }

    private int ReadBatch()
    {
        var count = 0;
        while (_reader.TryRead(_codec, out var result) && result.HasMessage)
        {
            _ = result.Message;
            _reader.Advance();
            count++;
        }

        return count;
    }
}
