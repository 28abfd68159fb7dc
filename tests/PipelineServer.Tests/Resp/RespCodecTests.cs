using System.IO.Pipelines;
using System.Text;
using PipelineServer.Protocols;
using PipelineServer.Resp;
using PipelineServer.Testing;

namespace PipelineServer.Tests.Resp;

public class RespCodecTests
{
    private static byte[] Encode(Action<ArrayBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private static RespValue ReadOne(byte[] bytes, RespLimits? limits = null)
    {
        var reader = new RespValueReader(limits);
        var input = new ReadOnlySequence<byte>(bytes);
        SequencePosition consumed = input.Start, examined = input.Start;
        Assert.True(reader.TryParseMessage(input, ref consumed, ref examined, out var value));
        Assert.Equal(input.End, consumed);
        return value;
    }

    [Fact]
    public void EveryTypeRoundTripsThroughTheWriterAndTheReader()
    {
        Assert.Equal("OK", ReadOne(Encode(w => RespWriter.WriteSimpleString(w, "OK"u8))).GetString());
        var error = ReadOne(Encode(w => RespWriter.WriteError(w, "ERR bad\r\nthing")));
        Assert.Equal((RespType.SimpleError, "ERR bad  thing"), (error.Type, error.GetString()));
        Assert.Equal(-42, ReadOne(Encode(w => RespWriter.WriteInteger(w, -42))).GetInteger());
        Assert.Equal(long.MinValue, ReadOne(Encode(w => RespWriter.WriteInteger(w, long.MinValue))).GetInteger());
        Assert.Equal("hello\r\nworld", ReadOne(Encode(w => RespWriter.WriteBulkString(w, "hello\r\nworld"u8))).GetString());
        Assert.Equal(string.Empty, ReadOne(Encode(w => RespWriter.WriteBulkString(w, ReadOnlySpan<byte>.Empty))).GetString());
        Assert.True(ReadOne(Encode(w => RespWriter.WriteNull(w, 2))).IsNull);
        Assert.True(ReadOne(Encode(w => RespWriter.WriteNull(w, 3))).IsNull);
        Assert.True(ReadOne("*-1\r\n"u8.ToArray()).IsNull);
        Assert.Equal(3.25, ReadOne(Encode(w => RespWriter.WriteDouble(w, 3.25, 3))).GetDouble());
        Assert.Equal(double.NegativeInfinity, ReadOne(Encode(w => RespWriter.WriteDouble(w, double.NegativeInfinity, 3))).GetDouble());
        Assert.True(double.IsNaN(ReadOne(Encode(w => RespWriter.WriteDouble(w, double.NaN, 3))).GetDouble()));
        Assert.True(ReadOne(Encode(w => RespWriter.WriteBoolean(w, true, 3))).GetBoolean());
        Assert.False(ReadOne(Encode(w => RespWriter.WriteBoolean(w, false, 3))).GetBoolean());
        Assert.Equal(0, ReadOne(Encode(w => RespWriter.WriteBoolean(w, false, 2))).GetInteger());
        Assert.Equal("-1234567890123456789012345678901234567890", ReadOne(Encode(w => RespWriter.WriteBigNumber(w, "-1234567890123456789012345678901234567890"u8, 3))).GetString());
        Assert.Equal("txt:Some text", ReadOne(Encode(w => RespWriter.WriteVerbatimString(w, "txt"u8, "Some text"u8, 3))).GetString());
        var bulkError = ReadOne(Encode(w => RespWriter.WriteBulkError(w, "SYNTAX invalid syntax", 3)));
        Assert.Equal((RespType.BulkError, "SYNTAX invalid syntax"), (bulkError.Type, bulkError.GetString()));
    }

    [Fact]
    public void AggregatesNestAndEnumerateLazily()
    {
        var bytes = Encode(w =>
        {
            RespWriter.WriteAggregateHeader(w, RespType.Map, 2, 3);
            RespWriter.WriteSimpleString(w, "list"u8);
            RespWriter.WriteAggregateHeader(w, RespType.Array, 3, 3);
            RespWriter.WriteInteger(w, 1);
            RespWriter.WriteAggregateHeader(w, RespType.Set, 1, 3);
            RespWriter.WriteBulkString(w, "inner"u8);
            RespWriter.WriteNull(w, 3);
            RespWriter.WriteSimpleString(w, "push"u8);
            RespWriter.WriteAggregateHeader(w, RespType.Push, 1, 3);
            RespWriter.WriteBoolean(w, true, 3);
        });
        var map = ReadOne(bytes);

        Assert.Equal((RespType.Map, 2L), (map.Type, map.Length));
        var elements = new List<RespValue>();
        foreach (var element in map.EnumerateElements())
        {
            elements.Add(element);
        }

        Assert.Equal([RespType.SimpleString, RespType.Array, RespType.SimpleString, RespType.Push], elements.Select(static e => e.Type));
        var list = elements[1].EnumerateElements();
        Assert.True(list.MoveNext());
        Assert.Equal(1, list.Current.GetInteger());
        Assert.True(list.MoveNext());
        Assert.Equal(RespType.Set, list.Current.Type);
        var set = list.Current.EnumerateElements();
        Assert.True(set.MoveNext());
        Assert.Equal("inner", set.Current.GetString());
        Assert.True(list.MoveNext());
        Assert.True(list.Current.IsNull);
        Assert.False(list.MoveNext());
    }

    [Fact]
    public void AnAttributeIsReadWithTheValueItDescribes()
    {
        var value = ReadOne("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2039123\r\n"u8.ToArray());

        Assert.Equal(RespType.Array, value.Type);
        Assert.True(value.HasAttribute);
        Assert.Equal(1, value.Attribute.Length);
        var element = value.EnumerateElements();
        Assert.True(element.MoveNext());
        Assert.Equal(2039123, element.Current.GetInteger());
    }

    private static readonly byte[] s_stream = Encoding.ASCII.GetBytes(
        "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n" +
        "PING\r\n" +
        "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n" +
        "  ECHO   spaced\twords \n" +
        "*0\r\n" +
        "*1\r\n$4\r\nPING\r\n");

    private static readonly string[] s_expected = ["SET key va\r\nl", "PING", "GET key", "ECHO spaced words", string.Empty, "PING"];

    [Fact]
    public void EverySplitPointOfAPipelinedStreamGivesTheSameCommands()
    {
        var reader = new RespCommandReader();
        for (var split = 0; split <= s_stream.Length; split++)
        {
            var commands = ReadAll(reader, TestSequence.Split(s_stream, split));
            Assert.Equal(s_expected, commands);
        }

        for (var size = 1; size <= 7; size++)
        {
            Assert.Equal(s_expected, ReadAll(reader, TestSequence.Chunk(s_stream, size)));
        }
    }

    [Fact]
    public void PartialCommandsAskForMoreDataAtEveryLength()
    {
        var reader = new RespCommandReader();
        var first = Encoding.ASCII.GetBytes("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n");
        for (var length = 1; length < first.Length; length++)
        {
            var input = new ReadOnlySequence<byte>(first, 0, length);
            SequencePosition consumed = input.Start, examined = input.End;
            Assert.False(reader.TryParseMessage(input, ref consumed, ref examined, out _));
        }
    }

    private static List<string> ReadAll(RespCommandReader reader, ReadOnlySequence<byte> input)
    {
        var commands = new List<string>();
        while (!input.IsEmpty)
        {
            SequencePosition consumed = input.Start, examined = input.End;
            Assert.True(reader.TryParseMessage(input, ref consumed, ref examined, out var command));
            commands.Add(command.ToString());
            input = input.Slice(consumed);
        }

        return commands;
    }

    public static TheoryData<string, string, ProtocolErrorKind> MalformedInput => new()
    {
        { "bad type byte", "?3\r\n", ProtocolErrorKind.Malformed },
        { "bad length", "$abc\r\nxyz\r\n", ProtocolErrorKind.Malformed },
        { "negative length", "$-5\r\n", ProtocolErrorKind.Malformed },
        { "missing CRLF after bulk data", "$3\r\nabcXY", ProtocolErrorKind.Malformed },
        { "CR without LF", "+OK\rX", ProtocolErrorKind.Malformed },
        { "LF without CR", "+OK\nX\r\n", ProtocolErrorKind.Malformed },
        { "bad integer", ":12a\r\n", ProtocolErrorKind.Malformed },
        { "bad boolean", "#x\r\n", ProtocolErrorKind.Malformed },
        { "bad double", ",1.2.3\r\n", ProtocolErrorKind.Malformed },
        { "bad big number", "(12x\r\n", ProtocolErrorKind.Malformed },
        { "bad verbatim", "=3\r\nabc\r\n", ProtocolErrorKind.Malformed },
        { "nesting bomb", string.Concat(Enumerable.Repeat("*1\r\n", 100)), ProtocolErrorKind.Malformed },
        { "attribute of an attribute", "|0\r\n|0\r\n+x\r\n", ProtocolErrorKind.Malformed },
        { "attribute chain", string.Concat(Enumerable.Repeat("|0\r\n", 100_000)) + "+x\r\n", ProtocolErrorKind.Malformed },
        { "huge announced array", "*99999999999\r\n", ProtocolErrorKind.MessageTooLarge },
        { "huge announced bulk", "$99999999999\r\n", ProtocolErrorKind.MessageTooLarge },
        { "endless line", "+" + new string('a', 70_000), ProtocolErrorKind.MessageTooLarge },
    };

    [Theory]
    [MemberData(nameof(MalformedInput))]
    public void MalformedValuesAreProtocolErrors(string name, string input, ProtocolErrorKind kind)
    {
        _ = name;
        var reader = new RespValueReader();
        var sequence = new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(input));
        SequencePosition consumed = sequence.Start, examined = sequence.End;
        var error = Assert.Throws<ProtocolException>(() => reader.TryParseMessage(sequence, ref consumed, ref examined, out _));
        Assert.Equal(kind, error.Kind);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    public void AChainOfAttributesIsAProtocolErrorNotAStackOverflow(int segmentSize)
    {
        // Found while fuzzing RespValueReader: each "|0\r\n" recursed once at the same depth, so about 80 KB of them
        // overflowed the stack and killed the process, whatever MaxDepth said.
        var chain = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("|0\r\n", 100_000)) + "+x\r\n");
        var sequence = TestSequence.Chunk(chain, segmentSize);
        var reader = new RespValueReader();
        SequencePosition consumed = sequence.Start, examined = sequence.End;

        var error = Assert.Throws<ProtocolException>(() => reader.TryParseMessage(sequence, ref consumed, ref examined, out _));

        Assert.Equal(ProtocolErrorKind.Malformed, error.Kind);
    }

    public static TheoryData<string, string, ProtocolErrorKind> MalformedCommands => new()
    {
        { "element not a bulk string", "*2\r\n$3\r\nGET\r\n:1\r\n", ProtocolErrorKind.Malformed },
        { "bad multibulk length", "*x\r\n", ProtocolErrorKind.Malformed },
        { "huge multibulk", "*4294967296\r\n", ProtocolErrorKind.MessageTooLarge },
        { "huge bulk", "*1\r\n$4294967296\r\n", ProtocolErrorKind.MessageTooLarge },
        { "missing CRLF", "*1\r\n$4\r\nPINGxx", ProtocolErrorKind.Malformed },
        { "inline too long", new string('a', 70_000), ProtocolErrorKind.MessageTooLarge },
    };

    [Theory]
    [MemberData(nameof(MalformedCommands))]
    public void MalformedCommandsAreProtocolErrors(string name, string input, ProtocolErrorKind kind)
    {
        _ = name;
        var reader = new RespCommandReader();
        var sequence = new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(input));
        SequencePosition consumed = sequence.Start, examined = sequence.End;
        var error = Assert.Throws<ProtocolException>(() => reader.TryParseMessage(sequence, ref consumed, ref examined, out _));
        Assert.Equal(kind, error.Kind);
        Assert.StartsWith("RESP protocol error: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HugeAnnouncedCountsReserveNothingWhileWaitingForData()
    {
        var reader = new RespCommandReader();
        var valueReader = new RespValueReader();
        var command = new ReadOnlySequence<byte>("*1000000\r\n$1\r\na\r\n"u8.ToArray());
        var value = new ReadOnlySequence<byte>("*1000000\r\n:1\r\n"u8.ToArray());
        var bulk = new ReadOnlySequence<byte>("$500000000\r\nabc"u8.ToArray());
        SequencePosition warmConsumed = command.Start, warmExamined = command.End;
        Assert.False(reader.TryParseMessage(command, ref warmConsumed, ref warmExamined, out _)); // JIT and statics first

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            SequencePosition c = command.Start, e = command.End;
            Assert.False(reader.TryParseMessage(command, ref c, ref e, out _));
            c = value.Start;
            e = value.End;
            Assert.False(valueReader.TryParseMessage(value, ref c, ref e, out _));
            c = bulk.Start;
            e = bulk.End;
            Assert.False(valueReader.TryParseMessage(bulk, ref c, ref e, out _));
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [MemberData(nameof(MalformedInput))]
    public void MalformedValuesAreProtocolErrorsWhenTrickled(string name, string input, ProtocolErrorKind kind)
    {
        _ = name;
        Assert.Equal(kind, TrickleUntilRejected(new RespValueReader(), Encoding.Latin1.GetBytes(input)).Kind);
    }

    [Theory]
    [MemberData(nameof(MalformedCommands))]
    public void MalformedCommandsAreProtocolErrorsWhenTrickled(string name, string input, ProtocolErrorKind kind)
    {
        _ = name;
        var error = TrickleUntilRejected(new RespCommandReader(), Encoding.Latin1.GetBytes(input));
        Assert.Equal(kind, error.Kind);
        Assert.StartsWith("RESP protocol error: ", error.Message, StringComparison.Ordinal);
    }

    // Three bytes per arrival, so that every element is cut and the readers resume from their per-connection state.
    private static ProtocolException TrickleUntilRejected<TMessage>(IMessageReader<TMessage> reader, byte[] input)
    {
        using var embedded = new EmbeddedMessageReader<TMessage>(reader, blockSize: 16);
        for (var offset = 0; offset < input.Length; offset += 3)
        {
            embedded.WriteInbound(input.AsSpan(offset, Math.Min(3, input.Length - offset)));
            try
            {
                Assert.Empty(embedded.ReadAll(static _ => 0));
            }
            catch (ProtocolException error)
            {
                return error;
            }
        }

        throw new InvalidOperationException("The input was accepted.");
    }

    [Fact]
    public void OneReaderInstanceKeepsEachConnectionsProgressApart()
    {
        // The readers are shared by every connection of an endpoint; what they know of a half-received message must
        // live with its connection. Two connections receive different commands and replies in interleaved pieces.
        var commands = new RespCommandReader();
        var values = new RespValueReader();
        var setCommand = Encoding.ASCII.GetBytes("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
        var getCommand = Encoding.ASCII.GetBytes("*2\r\n$3\r\nGET\r\n$10\r\nanotherkey\r\n");
        var mapReply = Encoding.ASCII.GetBytes("%2\r\n+a\r\n*2\r\n:1\r\n:2\r\n+b\r\n|1\r\n+t\r\n:0\r\n$1\r\nx\r\n");
        var arrayReply = Encoding.ASCII.GetBytes("*3\r\n*1\r\n*1\r\n:7\r\n$2\r\nhi\r\n_\r\n");
        Assert.Equal(
            ("SET key value", "GET anotherkey"),
            Interleave(commands, setCommand, getCommand, static c => c.ToString()));
        Assert.Equal(
            (Convert.ToHexString(mapReply), Convert.ToHexString(arrayReply)),
            Interleave(values, mapReply, arrayReply, static v => Convert.ToHexString(v.Raw.ToArray())));
    }

    private static (TResult, TResult) Interleave<TMessage, TResult>(IMessageReader<TMessage> shared, byte[] first, byte[] second, Func<TMessage, TResult> copy)
    {
        using var one = new EmbeddedMessageReader<TMessage>(shared, blockSize: 8);
        using var two = new EmbeddedMessageReader<TMessage>(shared, blockSize: 8);
        var results = (One: new List<TResult>(), Two: new List<TResult>());
        for (var offset = 0; offset < Math.Max(first.Length, second.Length); offset += 2)
        {
            if (offset < first.Length)
            {
                one.WriteInbound(first.AsSpan(offset, Math.Min(2, first.Length - offset)));
                results.One.AddRange(one.ReadAll(copy));
            }

            if (offset < second.Length)
            {
                two.WriteInbound(second.AsSpan(offset, Math.Min(2, second.Length - offset)));
                results.Two.AddRange(two.ReadAll(copy));
            }
        }

        return (Assert.Single(results.One), Assert.Single(results.Two));
    }

    [Fact]
    public void TrickledRepliesAllocateNothingOnceTheConnectionHasItsParseState()
    {
        // A nested reply cut into pieces needs the reader's stack of open aggregates between arrivals; it is allocated
        // once per connection, not per reply.
        var pipe = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 0, useSynchronizationContext: false));
        var reader = new ProtocolReader(pipe.Reader);
        var values = new RespValueReader();
        var reply = Encoding.ASCII.GetBytes("*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n$5\r\nhello\r\n");
        int ReadReplies(int count)
        {
            var read = 0;
            for (var i = 0; i < count; i++)
            {
                for (var offset = 0; offset < reply.Length; offset += 5)
                {
                    pipe.Writer.Write(reply.AsSpan(offset, Math.Min(5, reply.Length - offset)));
                    _ = pipe.Writer.FlushAsync();
                    while (reader.TryRead(values, out var result) && result.HasMessage)
                    {
                        read++;
                        reader.Advance();
                    }
                }
            }

            return read;
        }

        Assert.Equal(2, ReadReplies(2));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var replies = ReadReplies(100);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(100, replies);
        Assert.Equal(0, allocated);
    }
}
