using System.Buffers;
using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using PipelineServer.Protocols;
using PipelineServer.Protocols.Framing;
using PipelineServer.Testing;

namespace PipelineServer.Benchmarks;

/// <summary>
/// Parse throughput of each framing codec: a buffer of 64 back-to-back frames is parsed whole, the way ProtocolReader
/// slices it. Times and allocations are per frame (OperationsPerInvoke = 64).
/// </summary>
[Config(typeof(BenchmarkConfig))]
public class FramingBenchmarks
{
    private ReadOnlySequence<byte> _lengthField;
    private ReadOnlySequence<byte> _delimited;
    private ReadOnlySequence<byte> _fixed;
    private ReadOnlySequence<byte> _varint;
    private LengthFieldFrameReader _lengthFieldReader = null!;
    private DelimiterFrameReader _delimiterReader = null!;
    private FixedLengthFrameReader _fixedReader = null!;
    private VarintFrameReader _varintReader = null!;
    private const int Frames = 64;

    /// <summary>The frame size on the wire, header or delimiter included.</summary>
    [Params(16, 1024, 65536)]
    public int FrameSize { get; set; }

    /// <summary>Whether the input is one segment, or 4093-byte segments that frames straddle.</summary>
    [Params(false, true)]
    public bool MultiSegment { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _lengthFieldReader = new LengthFieldFrameReader(lengthFieldLength: 4, initialBytesToStrip: 4);
        _delimiterReader = new DelimiterFrameReader("\r\n"u8);
        _fixedReader = new FixedLengthFrameReader(FrameSize);
        _varintReader = new VarintFrameReader();

        var payload = new byte[FrameSize - 4];
        payload.AsSpan().Fill((byte)'x');
        _lengthField = Build(static (frame, payload) => { BinaryPrimitives.WriteInt32BigEndian(frame, payload.Length); payload.CopyTo(frame[4..]); }, payload);
        var text = new byte[FrameSize - 2];
        text.AsSpan().Fill((byte)'x');
        _delimited = Build(static (frame, payload) => { payload.CopyTo(frame); "\r\n"u8.CopyTo(frame[payload.Length..]); }, text);
        _fixed = Build(static (frame, payload) => frame.Fill(1), new byte[FrameSize]);
        var prefix = FrameSize < 130 ? 1 : FrameSize < 16386 ? 2 : 3;
        var body = new byte[FrameSize - prefix];
        _varint = Build((frame, payload) =>
        {
            var value = (uint)payload.Length;
            var n = 0;
            while (value >= 0x80)
            {
                frame[n++] = (byte)(value | 0x80);
                value >>= 7;
            }

            frame[n++] = (byte)value;
            payload.CopyTo(frame[n..]);
        }, body);

        // Check every codec sees exactly the frames before anything is timed.
        Check(LengthField(), nameof(LengthField));
        Check(Delimiter(), nameof(Delimiter));
        Check(FixedLength(), nameof(FixedLength));
        Check(Varint(), nameof(Varint));
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Frames)]
    public int HandWrittenLengthPrefix()
    {
        // The floor: a hand-written 4-byte length-prefix split with no codec, no options and no checks but bounds.
        var remaining = _lengthField;
        var count = 0;
        Span<byte> header = stackalloc byte[4];
        while (remaining.Length >= 4)
        {
            remaining.Slice(0, 4).CopyTo(header);
            var length = BinaryPrimitives.ReadInt32BigEndian(header);
            if (remaining.Length < 4 + length)
            {
                break;
            }

            _ = remaining.Slice(4, length);
            remaining = remaining.Slice(4 + length);
            count++;
        }

        return count;
    }

    [Benchmark(OperationsPerInvoke = Frames)]
    public int LengthField() => ParseAll(_lengthFieldReader, _lengthField);

    [Benchmark(OperationsPerInvoke = Frames)]
    public int Delimiter() => ParseAll(_delimiterReader, _delimited);

    [Benchmark(OperationsPerInvoke = Frames)]
    public int FixedLength() => ParseAll(_fixedReader, _fixed);

    [Benchmark(OperationsPerInvoke = Frames)]
    public int Varint() => ParseAll(_varintReader, _varint);

    private static int ParseAll(IMessageReader<ReadOnlySequence<byte>> reader, ReadOnlySequence<byte> input)
    {
        var count = 0;
        var remaining = input;
        while (!remaining.IsEmpty)
        {
            var consumed = remaining.Start;
            var examined = remaining.End;
            if (!reader.TryParseMessage(remaining, ref consumed, ref examined, out _))
            {
                break;
            }

            remaining = remaining.Slice(consumed);
            count++;
        }

        return count;
    }

    private ReadOnlySequence<byte> Build(FrameWriter write, byte[] payload)
    {
        var stream = new byte[Frames * FrameSize];
        for (var i = 0; i < Frames; i++)
        {
            write(stream.AsSpan(i * FrameSize, FrameSize), payload);
        }

        // Odd-sized segments, so frames and headers straddle segment boundaries.
        return MultiSegment ? TestSequence.Chunk(stream, 4093) : new ReadOnlySequence<byte>(stream);
    }

    private void Check(int parsed, string codec)
    {
        if (parsed != Frames)
        {
            throw new InvalidOperationException($"{codec} parsed {parsed} frames of {FrameSize} bytes; expected {Frames}.");
        }
    }

    private delegate void FrameWriter(Span<byte> frame, byte[] payload);
}
