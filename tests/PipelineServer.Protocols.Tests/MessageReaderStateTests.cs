using System.IO.Pipelines;
using System.Text;
using PipelineServer.Testing;

namespace PipelineServer.Protocols.Tests;

// The per-stream parse state: ProtocolReader keeps it for the codec across arrivals and resets it at every message
// boundary, error and change of codec; MessageReaderState finds the resume point in whatever buffer comes next.
public class MessageReaderStateTests
{
    private static Pipe NewPipe() =>
        new(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 0, useSynchronizationContext: false));

    private static void Arrive(Pipe pipe, string text)
    {
        pipe.Writer.Write(Encoding.ASCII.GetBytes(text));
        Assert.True(pipe.Writer.FlushAsync().IsCompletedSuccessfully);
    }

    [Fact]
    public void ProtocolReaderHandsTheCodecItsProgressOnEachArrivalAndStartsEachMessageAfresh()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        var codec = new LineProbe();

        Arrive(pipe, "ab");
        Assert.False(reader.TryRead(codec, out _));
        Arrive(pipe, "cd");
        Assert.False(reader.TryRead(codec, out _));
        Arrive(pipe, "e\nf");
        Assert.True(reader.TryRead(codec, out var line));
        Assert.Equal("abcde", line.Message);
        reader.Advance();
        Assert.False(reader.TryRead(codec, out _));

        // Searched up to 2, then 4; the next line starts from nothing.
        Assert.Equal([0, 2, 4, 0], codec.OffsetsSeen);
    }

    [Fact]
    public void ProtocolReaderForgetsTheCodecsProgressWhenTheCodecThrows()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        var codec = new LineProbe();
        Arrive(pipe, "ab");
        Assert.False(reader.TryRead(codec, out _));

        Arrive(pipe, "!");
        Assert.Throws<ProtocolException>(() => reader.TryRead(codec, out _));
        Assert.Throws<ProtocolException>(() => reader.TryRead(codec, out _));

        Assert.Equal([0, 2, 0], codec.OffsetsSeen);
    }

    [Fact]
    public void ProtocolReaderForgetsTheCodecsProgressWhenTheBufferedBytesPassTheLimit()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader, maxMessageSize: 4);
        var codec = new LineProbe();
        Arrive(pipe, "abc");
        Assert.False(reader.TryRead(codec, out _));

        Arrive(pipe, "de");
        Assert.Equal(ProtocolErrorKind.MessageTooLarge, Assert.Throws<ProtocolException>(() => reader.TryRead(codec, out _)).Kind);
        Assert.Throws<ProtocolException>(() => reader.TryRead(codec, out _));

        Assert.Equal([0, 3, 0], codec.OffsetsSeen);
    }

    [Fact]
    public void ProtocolReaderGivesADifferentCodecAFreshState()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        var first = new LineProbe();
        var second = new LineProbe();
        Arrive(pipe, "ab");
        Assert.False(reader.TryRead(first, out _));

        Arrive(pipe, "c");
        Assert.False(reader.TryRead(second, out _));
        Arrive(pipe, "d");
        Assert.False(reader.TryRead(first, out _));

        Assert.Equal([0, 0], first.OffsetsSeen);
        Assert.Equal([0], second.OffsetsSeen);
    }

    [Fact]
    public void SliceFromOffsetIsTheInputFromTheOffsetWhereverItLies()
    {
        var data = Encoding.ASCII.GetBytes("0123456789abcdefghijklmnopqrstuvwxyz");
        foreach (var input in new[] { new ReadOnlySequence<byte>(data), TestSequence.Chunk(data, 5), TestSequence.Split(data, 1, 2, 30, 31) })
        {
            for (var offset = 0; offset <= data.Length; offset++)
            {
                var plain = new MessageReaderState { Offset = offset };
                Assert.Equal(data[offset..], plain.SliceFromOffset(input).ToArray());

                var hinted = default(MessageReaderState);
                hinted.SetOffset(offset, input.GetPosition(offset));
                Assert.Equal(data[offset..], hinted.SliceFromOffset(input).ToArray());
            }
        }
    }

    [Fact]
    public void SliceFromOffsetTakesAPositionFromAnEarlierBufferOnlyWhenItBelongsToThisOne()
    {
        var data = Encoding.ASCII.GetBytes("0123456789abcdefghijklmnopqrstuvwxyz");
        var grown = TestSequence.Chunk(data, 4);
        var earlier = grown.Slice(0, 22); // the same segments, before the later ones arrived

        // Same layout, other bytes: its positions have the right running indexes but lead nowhere in `grown`.
        var stranger = TestSequence.Chunk(Encoding.ASCII.GetBytes("ABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*()"), 4);
        for (var offset = 1; offset <= 22; offset++)
        {
            var fromEarlier = default(MessageReaderState);
            fromEarlier.SetOffset(offset, earlier.GetPosition(offset));
            Assert.Equal(data[offset..], fromEarlier.SliceFromOffset(grown).ToArray());

            var fromStranger = default(MessageReaderState);
            fromStranger.SetOffset(offset, stranger.GetPosition(offset));
            Assert.Equal(data[offset..], fromStranger.SliceFromOffset(grown).ToArray());
        }
    }

    [Fact]
    public void ResetClearsTheProgressAndKeepsTheScratchObject()
    {
        var scratch = new long[4];
        var state = new MessageReaderState { Offset = 7, Progress = 3, Scratch = scratch };

        state.Reset();

        Assert.Equal(0, state.Offset);
        Assert.Equal(0, state.Progress);
        Assert.Same(scratch, state.Scratch);
    }

    // Lines ended by '\n'; '!' is malformed. It records the offset it is handed and searches only past it.
    private sealed class LineProbe : IMessageReader<string>
    {
        public List<long> OffsetsSeen { get; } = [];

        public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out string message) =>
            throw new InvalidOperationException("ProtocolReader calls the overload with state.");

        public bool TryParseMessage(in ReadOnlySequence<byte> input, ref MessageReaderState state, ref SequencePosition consumed, ref SequencePosition examined, out string message)
        {
            OffsetsSeen.Add(state.Offset);
            var rest = state.SliceFromOffset(input);
            if (rest.PositionOf((byte)'!') is not null)
            {
                throw new ProtocolException(ProtocolErrorKind.Malformed, "'!' is not allowed.");
            }

            if (rest.PositionOf((byte)'\n') is { } lf)
            {
                message = Encoding.ASCII.GetString(input.Slice(input.Start, lf));
                consumed = input.GetPosition(1, lf);
                examined = consumed;
                return true;
            }

            state.Offset = input.Length;
            message = string.Empty;
            return false;
        }
    }
}
