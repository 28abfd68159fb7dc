using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using BenchmarkDotNet.Attributes;
using PipelineServer.Protocols;
using PipelineServer.Protocols.Framing;
using PipelineServer.Resp;

namespace PipelineServer.Benchmarks;

/// <summary>
/// The codecs as a connection runs them: a pipelined batch of 64 messages goes through a Pipe and is read back through
/// ProtocolReader, one TryRead and Advance per message. RESP commands (what the KeyValueServer sample parses), RESP
/// replies (what RespClient parses) and text lines. Per message (OperationsPerInvoke = 64).
/// </summary>
[Config(typeof(BenchmarkConfig))]
public class CodecReadBenchmarks
{
    private const int Messages = 64;

    private readonly RespCommandReader _commands = new();
    private readonly RespValueReader _values = new();
    private readonly DelimiterFrameReader _lines = DelimiterFrameReader.Lines();
    private Pipe _pipe = null!;
    private ProtocolReader _reader = null!;
    private byte[] _commandBatch = null!;
    private byte[] _replyBatch = null!;
    private byte[] _lineBatch = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pipe = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 0, useSynchronizationContext: false));
        _reader = new ProtocolReader(_pipe.Reader, 64 * 1024 * 1024);

        var commands = new ArrayBufferWriter<byte>();
        var replies = new ArrayBufferWriter<byte>();
        var lines = new ArrayBufferWriter<byte>();
        for (var i = 0; i < Messages; i++)
        {
            var key = Encoding.ASCII.GetBytes($"key:{i:D4}");
            RespWriter.WriteAggregateHeader(commands, RespType.Array, 3, 2);
            RespWriter.WriteBulkString(commands, "SET"u8);
            RespWriter.WriteBulkString(commands, key);
            RespWriter.WriteBulkString(commands, "0123456789abcdef"u8);
            RespWriter.WriteBulkString(replies, "0123456789abcdef"u8);
            lines.Write(Encoding.ASCII.GetBytes($"SET {Encoding.ASCII.GetString(key)} 0123456789abcdef\r\n"));
        }

        _commandBatch = commands.WrittenSpan.ToArray();
        _replyBatch = replies.WrittenSpan.ToArray();
        _lineBatch = lines.WrittenSpan.ToArray();
        if (RespCommands() != Messages || RespValues() != Messages || Lines() != Messages)
        {
            throw new InvalidOperationException("A codec did not see every message.");
        }
    }

    [Benchmark(OperationsPerInvoke = Messages)]
    public int RespCommands() => ReadBatch(_commandBatch, _commands);

    [Benchmark(OperationsPerInvoke = Messages)]
    public int RespValues() => ReadBatch(_replyBatch, _values);

    [Benchmark(OperationsPerInvoke = Messages)]
    public int Lines() => ReadBatch(_lineBatch, _lines);

    private int ReadBatch<T>(byte[] batch, IMessageReader<T> codec)
    {
        _pipe.Writer.Write(batch);
        _pipe.Writer.FlushAsync().GetAwaiter().GetResult();
        var count = 0;
        while (_reader.TryRead(codec, out var result) && result.HasMessage)
        {
            _reader.Advance();
            count++;
        }

        return count;
    }
}
