using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using PipelineServer.Protocols.Framing;

namespace PipelineServer.Protocols.Tests;

public class ProtocolWriterTests
{
    private static readonly LengthFieldPrepender s_prepender = new();
    private static readonly LengthFieldFrameReader s_frames = new(lengthFieldLength: 4, initialBytesToStrip: 4);
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    private static ReadOnlySequence<byte> Seq(params byte[] bytes) => new(bytes);

    [Fact]
    public async Task ManyWritesGoOutInOneFlush()
    {
        var pipe = new Pipe();
        var counting = new CountingPipeWriter(pipe.Writer);
        var writer = new ProtocolWriter(counting);

        for (var i = 0; i < 10; i++)
        {
            writer.Write(s_prepender, Seq((byte)i));
        }

        Assert.Equal(0, counting.Flushes);
        await writer.FlushAsync();
        Assert.Equal(1, counting.Flushes);

        var read = await pipe.Reader.ReadAsync();
        Assert.Equal(50, read.Buffer.Length);
    }

    [Fact]
    public async Task FlushingWithNothingWrittenDoesNotTouchThePipe()
    {
        var counting = new CountingPipeWriter(new Pipe().Writer);
        var writer = new ProtocolWriter(counting);

        await writer.FlushAsync();
        writer.Write(s_prepender, Seq(1));
        await writer.FlushAsync();
        await writer.FlushAsync();

        Assert.Equal(1, counting.Flushes);
    }

    [Fact]
    public async Task ConcurrentWritersNeverInterleaveTheBytesOfTwoMessages()
    {
        const int Writers = 8;
        const int PerWriter = 500;
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4096, resumeWriterThreshold: 2048));
        var writer = new ProtocolWriter(pipe.Writer);

        var reading = Task.Run(async () =>
        {
            var seen = new List<(int Writer, int Sequence)>();
            var reader = new ProtocolReader(pipe.Reader);
            while (true)
            {
                var result = await reader.ReadAsync(s_frames);
                if (result.IsCompleted)
                {
                    return seen;
                }

                var bytes = result.Message.ToArray();
                // Each payload is its writer id, then its sequence number repeated to fill 40 bytes.
                Assert.Equal(41, bytes.Length);
                Assert.All(bytes.AsSpan(1).ToArray(), b => Assert.Equal(bytes[1], b));
                seen.Add((bytes[0], bytes[1]));
                reader.Advance();
            }
        });

        var writers = Enumerable.Range(0, Writers).Select(id => Task.Run(async () =>
        {
            for (var i = 0; i < PerWriter; i++)
            {
                var payload = new byte[41];
                payload[0] = (byte)id;
                payload.AsSpan(1).Fill((byte)(i % 251));
                writer.Write(s_prepender, new ReadOnlySequence<byte>(payload));
                if (i % 7 == 0)
                {
                    await writer.FlushAsync();
                }
            }

            await writer.FlushAsync();
        })).ToArray();

        await Task.WhenAll(writers).WaitAsync(s_timeout);
        writer.Complete();
        var seen = await reading.WaitAsync(s_timeout);

        Assert.Equal(Writers * PerWriter, seen.Count);
        for (var id = 0; id < Writers; id++)
        {
            // Per writer, messages arrive in the order that writer wrote them.
            var sequence = seen.Where(s => s.Writer == id).Select(static s => s.Sequence).ToArray();
            Assert.Equal(Enumerable.Range(0, PerWriter).Select(static i => i % 251), sequence);
        }
    }

    [Fact]
    public async Task FlushWaitsForASlowReaderAndJoinsAFlushInProgress()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 64, resumeWriterThreshold: 32, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
        var writer = new ProtocolWriter(pipe.Writer);

        writer.Write(s_prepender, Seq(new byte[100]));
        var first = writer.FlushAsync();
        Assert.False(first.IsCompleted);

        // A second writer's message goes out with the next flush, which starts when the first one finishes.
        writer.Write(s_prepender, Seq(new byte[10]));
        var second = writer.FlushAsync();
        Assert.False(second.IsCompleted);

        var read = await pipe.Reader.ReadAsync();
        Assert.Equal(104, read.Buffer.Length);
        pipe.Reader.AdvanceTo(read.Buffer.End);
        await first.AsTask().WaitAsync(s_timeout);
        await second.AsTask().WaitAsync(s_timeout);

        read = await pipe.Reader.ReadAsync();
        Assert.Equal(14, read.Buffer.Length);
    }

    [Fact]
    public async Task CancellingAFlushWaitKeepsTheDataQueued()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 16, resumeWriterThreshold: 8, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
        var writer = new ProtocolWriter(pipe.Writer);
        using var cts = new CancellationTokenSource();

        writer.Write(s_prepender, Seq(new byte[40]));
        var flush = writer.FlushAsync(cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await flush);

        var read = await pipe.Reader.ReadAsync();
        Assert.Equal(44, read.Buffer.Length);
        pipe.Reader.AdvanceTo(read.Buffer.End);
        writer.Write(s_prepender, Seq(1));
        await writer.FlushAsync().AsTask().WaitAsync(s_timeout);
    }

    [Fact]
    public async Task WritingAfterThePeerLeftThrowsConnectionClosed()
    {
        var pipe = new Pipe();
        var writer = new ProtocolWriter(pipe.Writer);
        await pipe.Reader.CompleteAsync();

        writer.Write(s_prepender, Seq(1));
        await Assert.ThrowsAsync<ConnectionClosedException>(async () => await writer.FlushAsync());

        Assert.True(writer.IsClosed);
        Assert.Throws<ConnectionClosedException>(() => writer.Write(s_prepender, Seq(2)));
        await Assert.ThrowsAsync<ConnectionClosedException>(async () => await writer.WriteAsync(s_prepender, Seq(3)));
    }

    [Fact]
    public async Task ATransportFailureSurfacesAsConnectionClosedWithTheCause()
    {
        var pipe = new Pipe();
        var writer = new ProtocolWriter(pipe.Writer);
        var reset = new IOException("connection reset by peer");
        await pipe.Reader.CompleteAsync(reset);

        var ex = await Assert.ThrowsAsync<ConnectionClosedException>(async () => await writer.WriteAsync(s_prepender, Seq(1)));

        Assert.Same(reset, ex.InnerException);
        Assert.Throws<ConnectionClosedException>(() => writer.Write(s_prepender, Seq(2)));
    }

    [Fact]
    public async Task APeerLeavingDuringABlockedFlushFailsEveryWaiter()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 16, resumeWriterThreshold: 8, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
        var writer = new ProtocolWriter(pipe.Writer);

        writer.Write(s_prepender, Seq(new byte[40]));
        var first = writer.FlushAsync();
        writer.Write(s_prepender, Seq(new byte[40]));
        var second = writer.FlushAsync();
        await pipe.Reader.CompleteAsync();

        await Assert.ThrowsAsync<ConnectionClosedException>(async () => await first.AsTask().WaitAsync(s_timeout));
        await Assert.ThrowsAsync<ConnectionClosedException>(async () => await second.AsTask().WaitAsync(s_timeout));
    }

    [Fact]
    public async Task CompleteSendsWhatWasWrittenThenEndsTheStream()
    {
        var pipe = new Pipe();
        var writer = new ProtocolWriter(pipe.Writer);
        writer.Write(s_prepender, Seq(1, 2));

        writer.Complete();
        writer.Complete();

        Assert.Throws<ConnectionClosedException>(() => writer.Write(s_prepender, Seq(3)));
        var read = await pipe.Reader.ReadAsync();
        Assert.Equal(6, read.Buffer.Length);
        Assert.True(read.IsCompleted);
    }

    [Fact]
    public async Task WriteAsyncRoundTripsThroughTheMatchingReader()
    {
        var pipe = new Pipe();
        var writer = new ProtocolWriter(pipe.Writer);
        var reader = new ProtocolReader(pipe.Reader);

        await writer.WriteAsync(s_prepender, Seq(4, 5, 6));
        var result = await reader.ReadAsync(s_frames).AsTask().WaitAsync(s_timeout);

        Assert.Equal([4, 5, 6], result.Message.ToArray());
    }

    [Fact]
    public async Task AWriteThatReachesTheHighWaterMarkStartsAFlushItself()
    {
        var pipe = new Pipe();
        var writer = new ProtocolWriter(pipe.Writer, highWaterMark: 100, maxBufferedBytes: null);

        writer.Write(s_prepender, Seq(new byte[56]));
        Assert.False(pipe.Reader.TryRead(out _));
        Assert.Equal(60, writer.BufferedBytes);

        writer.Write(s_prepender, Seq(new byte[56]));
        Assert.True(pipe.Reader.TryRead(out var read));
        Assert.Equal(120, read.Buffer.Length);
        Assert.Equal(0, writer.BufferedBytes);
        Assert.True(writer.IsWritable);
        pipe.Reader.AdvanceTo(read.Buffer.End);
        await writer.FlushAsync().AsTask().WaitAsync(s_timeout);
    }

    [Fact]
    public async Task IsWritableIsFalseWhileTheTransportHoldsBackAFlushPastTheMark()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 64, resumeWriterThreshold: 32, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
        var writer = new ProtocolWriter(pipe.Writer, highWaterMark: 100, maxBufferedBytes: null);

        writer.Write(s_prepender, Seq(new byte[116]));

        // The flush the write started waits for the reader: its bytes still count as held.
        Assert.Equal(120, writer.BufferedBytes);
        Assert.False(writer.IsWritable);
        var waiting = writer.FlushAsync();
        Assert.False(waiting.IsCompleted);

        var read = await pipe.Reader.ReadAsync();
        pipe.Reader.AdvanceTo(read.Buffer.End);
        await waiting.AsTask().WaitAsync(s_timeout);
        Assert.Equal(0, writer.BufferedBytes);
        Assert.True(writer.IsWritable);
    }

    [Fact]
    public async Task AWriteThatFindsTheLimitHeldClosesTheWriterAndWakesTheWaitingFlush()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 64, resumeWriterThreshold: 32, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
        var writer = new ProtocolWriter(pipe.Writer, highWaterMark: 100, maxBufferedBytes: 300);
        var box = new StrongBox<int>();
        writer.OnOverflow(static state => Interlocked.Increment(ref ((StrongBox<int>)state!).Value), box);

        writer.Write(s_prepender, Seq(new byte[116]));
        var waiting = writer.FlushAsync();
        writer.Write(s_prepender, Seq(new byte[116]));
        writer.Write(s_prepender, Seq(new byte[116]));
        Assert.Equal(360, writer.BufferedBytes);

        var ex = Assert.Throws<ConnectionClosedException>(() => writer.Write(s_prepender, Seq(1)));
        Assert.Contains("300", ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, box.Value);
        Assert.True(writer.IsClosed);
        await Assert.ThrowsAsync<ConnectionClosedException>(async () => await waiting.AsTask().WaitAsync(s_timeout));
        Assert.Throws<ConnectionClosedException>(() => writer.Write(s_prepender, Seq(2)));
    }

    [Fact]
    public void TheBoundsHoldOverAPipeWriterThatCannotReportUnflushedBytes()
    {
        var counting = new CountingPipeWriter(new Pipe().Writer);
        Assert.False(counting.CanGetUnflushedBytes);
        var writer = new ProtocolWriter(counting, highWaterMark: 100, maxBufferedBytes: null);

        writer.Write(s_prepender, Seq(new byte[56]));
        Assert.Equal(60, writer.BufferedBytes);
        Assert.Equal(0, counting.Flushes);

        writer.Write(s_prepender, Seq(new byte[56]));
        Assert.Equal(1, counting.Flushes);
    }

    [Fact]
    public async Task WritesMadeWhileAFlushToAStreamIsPendingReachTheStreamWholeAndInOrder()
    {
        // A StreamPipeWriter (what TLS writes through) must not be written while its flush is pending.
        var stream = new GatedStream();
        var writer = new ProtocolWriter(PipeWriter.Create(stream), highWaterMark: 64 * 1024, maxBufferedBytes: null);
        var expected = new MemoryStream();
        for (var i = 0; i < 32; i++)
        {
            var body = new byte[8 * 1024];
            Array.Fill(body, (byte)i);
            writer.Write(s_prepender, Seq(body));
            expected.Write(TestFrame(body));
        }

        // The flush the eighth message started waits on the stream; the 24 messages after it are held, not lost.
        Assert.Equal(32 * (8 * 1024 + 4), writer.BufferedBytes);
        stream.Open();
        await writer.FlushAsync().AsTask().WaitAsync(s_timeout);

        Assert.Equal(expected.ToArray(), stream.Received());
        Assert.Equal(0, writer.BufferedBytes);
    }

    [Fact]
    public async Task CompletingDuringAPendingFlushSendsWhatWasWrittenThenEndsTheStream()
    {
        var stream = new GatedStream();
        var writer = new ProtocolWriter(PipeWriter.Create(stream), highWaterMark: 64 * 1024, maxBufferedBytes: null);
        var expected = new MemoryStream();
        for (var i = 0; i < 12; i++)
        {
            var body = new byte[8 * 1024];
            Array.Fill(body, (byte)i);
            writer.Write(s_prepender, Seq(body));
            expected.Write(TestFrame(body));
        }

        writer.Complete();
        Assert.Throws<ConnectionClosedException>(() => writer.Write(s_prepender, Seq(1)));
        stream.Open();

        await stream.Disposed.WaitAsync(s_timeout);
        Assert.Equal(expected.ToArray(), stream.Received());
    }

    [Fact]
    public async Task ACodecThatFailsPartWayClosesTheWriterAndThePipeEndsWithItsErrorNotATornMessage()
    {
        var pipe = new Pipe();
        var writer = new ProtocolWriter(pipe.Writer);
        writer.Write(s_prepender, Seq(1));

        var failure = Assert.Throws<InvalidOperationException>(() => writer.Write(new HalfThenThrow(), 0));

        Assert.True(writer.IsClosed);
        Assert.Throws<ConnectionClosedException>(() => writer.Write(s_prepender, Seq(2)));
        writer.Complete();
        var ended = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            while (true)
            {
                var read = await pipe.Reader.ReadAsync();
                pipe.Reader.AdvanceTo(read.Buffer.End);
            }
        });
        Assert.Same(failure, ended);
    }

    // Writes half a frame, then fails, as a buggy codec might.
    private sealed class HalfThenThrow : IMessageWriter<int>
    {
        public void WriteMessage(int message, IBufferWriter<byte> output)
        {
            output.GetSpan(2)[..2].Clear();
            output.Advance(2);
            throw new InvalidOperationException("the codec failed part-way");
        }
    }

    private static byte[] TestFrame(byte[] body)
    {
        var frame = new byte[body.Length + 4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(frame, body.Length);
        body.CopyTo(frame, 4);
        return frame;
    }

    // A stream whose writes wait until it is opened, as a TLS layer over a peer that does not read yet.
    private sealed class GatedStream : Stream
    {
        private readonly MemoryStream _received = new();
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Disposed => _disposed.Task;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public void Open() => _open.TrySetResult();

        public byte[] Received()
        {
            lock (_received)
            {
                return _received.ToArray();
            }
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await _open.Task.WaitAsync(cancellationToken);
            lock (_received)
            {
                _received.Write(buffer.Span);
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            // Completing the writer writes what is left synchronously; by then the stream is open.
            _open.Task.Wait();
            lock (_received)
            {
                _received.Write(buffer, offset, count);
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            _disposed.TrySetResult();
            base.Dispose(disposing);
        }
    }

    private sealed class CountingPipeWriter(PipeWriter inner) : PipeWriter
    {
        public int Flushes { get; private set; }

        public override void Advance(int bytes) => inner.Advance(bytes);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            Flushes++;
            return inner.FlushAsync(cancellationToken);
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
    }
}
