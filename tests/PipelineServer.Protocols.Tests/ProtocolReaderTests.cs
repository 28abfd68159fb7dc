using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using PipelineServer.Protocols.Framing;
using PipelineServer.Testing;
using static PipelineServer.Protocols.Tests.Frames;

namespace PipelineServer.Protocols.Tests;

public class ProtocolReaderTests
{
    private static readonly LengthFieldFrameReader s_frames = new(lengthFieldLength: 4, initialBytesToStrip: 4);
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    private static Pipe NewPipe(TestMemoryPool? pool = null) =>
        new(new PipeOptions(pool: pool, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 0, useSynchronizationContext: false));

    private static byte[] Frame(params byte[] payload) => Concat([0, 0, 0, (byte)payload.Length], payload);

    [Fact]
    public async Task ReadsPipelinedMessagesFromOneReadWithoutWaiting()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        await pipe.Writer.WriteAsync(Concat(Frame(1), Frame(2), Frame(3)));

        var first = await reader.ReadAsync(s_frames).AsTask().WaitAsync(s_timeout);
        Assert.Equal([1], first.Message.ToArray());
        reader.Advance();
        Assert.True(reader.TryRead(s_frames, out var second));
        Assert.Equal([2], second.Message.ToArray());
        reader.Advance();
        Assert.True(reader.TryRead(s_frames, out var third));
        Assert.Equal([3], third.Message.ToArray());
        reader.Advance();

        // The batch is exhausted: TryRead says so, which is when a server flushes its responses.
        Assert.False(reader.TryRead(s_frames, out _));
    }

    [Fact]
    public async Task CompletesSynchronouslyWhenAMessageIsBuffered()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        await pipe.Writer.WriteAsync(Concat(Frame(1), Frame(2)));

        var first = reader.ReadAsync(s_frames);
        Assert.True(first.IsCompletedSuccessfully);
        Assert.Equal([1], (await first).Message.ToArray());
        reader.Advance();
        var second = reader.ReadAsync(s_frames);
        Assert.True(second.IsCompletedSuccessfully);
        Assert.Equal([2], (await second).Message.ToArray());
    }

    [Fact]
    public async Task WaitsForNewBytesInsteadOfReparsingAPartialMessage()
    {
        var pipe = NewPipe();
        var codec = new CountingReader<ReadOnlySequence<byte>>(s_frames);
        var reader = new ProtocolReader(pipe.Reader);
        await pipe.Writer.WriteAsync(new byte[] { 0, 0, 0, 3, 9 });

        var pending = reader.ReadAsync(codec);

        Assert.False(pending.IsCompleted);
        Assert.Equal(1, codec.Calls);
        await pipe.Writer.WriteAsync(new byte[] { 9 });
        Assert.False(pending.IsCompleted);
        Assert.Equal(2, codec.Calls);
        await pipe.Writer.WriteAsync(new byte[] { 9 });

        var result = await pending.AsTask().WaitAsync(s_timeout);
        Assert.Equal([9, 9, 9], result.Message.ToArray());
        Assert.Equal(3, codec.Calls);
    }

    [Fact]
    public async Task TheLoopsDirectWaitReadsSplitMessagesCancellationsAndEndsAsReadAsyncDoes()
    {
        // The server's and client's loops await the pipe themselves and hand each result to TryReadFrom.
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        Assert.False(reader.TryRead(s_frames, out _));

        var wait = reader.WaitForDataAsync();
        Assert.False(wait.IsCompleted);
        await pipe.Writer.WriteAsync(new byte[] { 0, 0, 0, 2, 5 });
        Assert.False(reader.TryReadFrom(s_frames, await wait.AsTask().WaitAsync(s_timeout), out _)); // half a message
        await pipe.Writer.WriteAsync(Concat([6], Frame(7)));
        Assert.True(reader.TryReadFrom(s_frames, await reader.WaitForDataAsync().AsTask().WaitAsync(s_timeout), out var whole));
        Assert.Equal([5, 6], whole.Message.ToArray());
        Assert.Throws<InvalidOperationException>(() => reader.TryReadFrom(s_frames, default, out _)); // not advanced
        reader.Advance();
        Assert.True(reader.TryRead(s_frames, out var next)); // the rest of the same read
        Assert.Equal([7], next.Message.ToArray());
        reader.Advance();
        Assert.False(reader.TryRead(s_frames, out _));

        pipe.Reader.CancelPendingRead();
        Assert.True(reader.TryReadFrom(s_frames, await reader.WaitForDataAsync().AsTask().WaitAsync(s_timeout), out var canceled));
        Assert.True(canceled.IsCanceled);
        Assert.False(reader.TryRead(s_frames, out _));

        await pipe.Writer.WriteAsync(new byte[] { 0, 0, 0, 9, 1 });
        await pipe.Writer.CompleteAsync();
        var last = await reader.WaitForDataAsync().AsTask().WaitAsync(s_timeout);
        var ex = Assert.Throws<ProtocolException>(() => reader.TryReadFrom(s_frames, last, out _));
        Assert.Equal(ProtocolErrorKind.Truncated, ex.Kind);
    }

    [Fact]
    public void TryReadDoesNotReparseWhenNothingNewArrived()
    {
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(s_frames);
        embedded.WriteInbound([0, 0, 0, 5, 1]);

        Assert.False(embedded.TryRead(static f => f.ToArray(), out _));
        Assert.False(embedded.TryRead(static f => f.ToArray(), out _));
        Assert.False(embedded.TryRead(static f => f.ToArray(), out _));

        Assert.Equal(1, embedded.ParseAttempts);
    }

    [Fact]
    public void EnforcesTheLimitBeforeBufferingPassesIt()
    {
        // A codec that cannot know the size up front: only the reader's limit stops it.
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(new NeverCompleteReader(), maxMessageSize: 100);

        embedded.WriteInbound(new byte[60]);
        Assert.False(embedded.TryRead(static f => f.ToArray(), out _));
        embedded.WriteInbound(new byte[40]);
        Assert.False(embedded.TryRead(static f => f.ToArray(), out _));
        embedded.WriteInbound(new byte[1]);
        var ex = Assert.Throws<ProtocolException>(() => embedded.TryRead(static f => f.ToArray(), out _));

        Assert.Equal(ProtocolErrorKind.MessageTooLarge, ex.Kind);
        Assert.Equal("101 bytes were received without a complete message; the maximum message size is 100 bytes.", ex.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(20)]
    public void RejectsAMessageOverTheLimitHoweverItArrives(int chunk)
    {
        // Found by fuzzing (tests/PipelineServer.Fuzz): a 14-byte frame under a 10-byte limit was rejected when it
        // trickled in but returned when it arrived in one read, because only a codec waiting for more was checked.
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(s_frames, maxMessageSize: 10);
        var frame = Frame(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);

        var ex = Assert.Throws<ProtocolException>(() =>
        {
            for (var offset = 0; offset < frame.Length; offset += chunk)
            {
                embedded.WriteInbound(frame.AsSpan(offset, Math.Min(chunk, frame.Length - offset)));
                Assert.False(embedded.TryRead(static f => f.ToArray(), out _));
            }
        });

        Assert.Equal(ProtocolErrorKind.MessageTooLarge, ex.Kind);
    }

    [Fact]
    public void AcceptsAMessageOfExactlyTheLimit()
    {
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(s_frames, maxMessageSize: 10);

        embedded.WriteInbound(Concat(Frame(1, 2, 3, 4, 5, 6), Frame(7, 8, 9, 10, 11, 12)));

        Assert.Equal([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]], embedded.ReadAll(static f => f.ToArray()));
    }

    [Fact]
    public void CountsOnlyUnconsumedBytesTowardsTheLimit()
    {
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(s_frames, maxMessageSize: 10);
        var many = Concat([.. Enumerable.Range(0, 50).Select(static i => Frame((byte)i, 1, 2, 3))]);

        embedded.WriteInbound(many);

        Assert.Equal(50, embedded.ReadAll(static f => f.ToArray()).Count);
    }

    [Fact]
    public async Task ReportsACleanEndOfStreamAsCompleted()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        await pipe.Writer.WriteAsync(Frame(7));
        await pipe.Writer.CompleteAsync();

        var message = await reader.ReadAsync(s_frames);
        Assert.True(message.HasMessage);
        reader.Advance();
        var end = await reader.ReadAsync(s_frames);

        Assert.True(end.IsCompleted);
        Assert.False(end.HasMessage);
        Assert.Throws<InvalidOperationException>(() => end.Message);
        Assert.True((await reader.ReadAsync(s_frames)).IsCompleted);
    }

    [Fact]
    public async Task ReportsAnEndOfStreamInsideAMessageAsAProtocolErrorNotAsSilence()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        var pending = reader.ReadAsync(s_frames);
        await pipe.Writer.WriteAsync(new byte[] { 0, 0, 0, 9, 1, 2 });
        await pipe.Writer.CompleteAsync();

        var ex = await Assert.ThrowsAsync<ProtocolException>(async () => await pending.AsTask().WaitAsync(s_timeout));

        Assert.Equal(ProtocolErrorKind.Truncated, ex.Kind);
    }

    [Fact]
    public async Task CancellationTokenStopsTheWaitAndLeavesTheReaderUsable()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        using var cts = new CancellationTokenSource();
        await pipe.Writer.WriteAsync(new byte[] { 0, 0, 0, 1 });

        var pending = reader.ReadAsync(s_frames, cts.Token);
        Assert.False(pending.IsCompleted);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pending);

        await pipe.Writer.WriteAsync(new byte[] { 42 });
        var result = await reader.ReadAsync(s_frames).AsTask().WaitAsync(s_timeout);
        Assert.Equal([42], result.Message.ToArray());
    }

    [Fact]
    public async Task CancelPendingReadReturnsACanceledResultAndKeepsBufferedBytes()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        await pipe.Writer.WriteAsync(new byte[] { 0, 0, 0, 2, 5 });
        var pending = reader.ReadAsync(s_frames);

        pipe.Reader.CancelPendingRead();
        var canceled = await pending.AsTask().WaitAsync(s_timeout);
        Assert.True(canceled.IsCanceled);
        Assert.False(canceled.HasMessage);

        await pipe.Writer.WriteAsync(new byte[] { 6 });
        var result = await reader.ReadAsync(s_frames).AsTask().WaitAsync(s_timeout);
        Assert.Equal([5, 6], result.Message.ToArray());
    }

    [Fact]
    public async Task TryReadReportsACancellationRequestedBeforeIt()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        await pipe.Writer.WriteAsync(Frame(1));

        pipe.Reader.CancelPendingRead();

        Assert.True(reader.TryRead(s_frames, out var result));
        Assert.True(result.IsCanceled);
        Assert.True(reader.TryRead(s_frames, out result));
        Assert.Equal([1], result.Message.ToArray());
    }

    [Fact]
    public async Task RefusesToReadAgainBeforeTheMessageIsReleased()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        await pipe.Writer.WriteAsync(Concat(Frame(1), Frame(2)));
        await reader.ReadAsync(s_frames);

        Assert.Throws<InvalidOperationException>(() => reader.TryRead(s_frames, out _));
        Assert.Throws<InvalidOperationException>(() => reader.ReadAsync(s_frames));
        reader.Advance();
        Assert.Throws<InvalidOperationException>(reader.Advance);
    }

    [Fact]
    public async Task RefusesAConcurrentRead()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        var pending = reader.ReadAsync(s_frames);

        Assert.Throws<InvalidOperationException>(() => reader.ReadAsync(s_frames));

        await pipe.Writer.WriteAsync(Frame(3));
        Assert.Equal([3], (await pending.AsTask().WaitAsync(s_timeout)).Message.ToArray());
    }

    [Fact]
    public async Task RejectsACodecThatReturnsAMessageWithoutConsumingAnything()
    {
        var pipe = NewPipe();
        var reader = new ProtocolReader(pipe.Reader);
        await pipe.Writer.WriteAsync(new byte[] { 1 });

        var ex = Assert.Throws<InvalidOperationException>(() => reader.TryRead(new ConsumesNothingReader(), out _));

        Assert.Contains(nameof(ConsumesNothingReader), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MessagesStayValidUntilAdvanceAndEveryBlockReturnsToThePool()
    {
        var pool = new TestMemoryPool(blockSize: 16);
        var pipe = new Pipe(new PipeOptions(pool: pool, minimumSegmentSize: 1, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 0, useSynchronizationContext: false));
        var reader = new ProtocolReader(pipe.Reader);
        var payloads = Enumerable.Range(0, 20).Select(static i => Payload(i * 3, seed: i)).ToArray();
        await pipe.Writer.WriteAsync(Concat([.. payloads.Select(static p => Frame(p))]));
        await pipe.Writer.CompleteAsync();

        foreach (var payload in payloads)
        {
            var result = await reader.ReadAsync(s_frames);
            Assert.Equal(payload, result.Message.ToArray());
            reader.Advance();
        }

        Assert.True((await reader.ReadAsync(s_frames)).IsCompleted);
        await pipe.Reader.CompleteAsync();
        Assert.True(pool.RentedBlocks > 1);
        Assert.Equal(0, pool.OutstandingBlocks);
    }

    private sealed class CountingReader<T>(IMessageReader<T> inner) : IMessageReader<T>
    {
        public int Calls { get; private set; }

        public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, [MaybeNullWhen(false)] out T message)
        {
            Calls++;
            return inner.TryParseMessage(input, ref consumed, ref examined, out message);
        }
    }

    private sealed class NeverCompleteReader : IMessageReader<ReadOnlySequence<byte>>
    {
        public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out ReadOnlySequence<byte> message)
        {
            message = default;
            return false;
        }
    }

    private sealed class ConsumesNothingReader : IMessageReader<int>
    {
        public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out int message)
        {
            message = 1;
            return true;
        }
    }
}
