using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using PipelineServer.Protocols.Internal;

namespace PipelineServer.Protocols;

/// <summary>
/// Writes messages to a <see cref="PipeWriter"/> with any <see cref="IMessageWriter{TMessage}"/>: many writes, one flush
/// per batch, safe for concurrent writers.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Write{TMessage}"/> serialises a message into the pipe's buffer without sending it;
/// <see cref="FlushAsync"/> sends everything written so far with one flush (one system call on a socket). Writers on
/// several threads may interleave <see cref="Write{TMessage}"/> and <see cref="FlushAsync"/> freely: each message is
/// written whole, and a flush that finds another flush under way joins it instead of racing it, so writes made in the
/// meantime go out together in the next flush.
/// </para>
/// <para>
/// Backpressure: <see cref="FlushAsync"/> completes when the pipe has accepted the data, which on a bounded pipe waits
/// for a slow peer to read. Callers that await their flushes therefore cannot grow memory without bound.
/// </para>
/// <para>
/// Bounded output: <see cref="BufferedBytes"/> counts what was written and not yet taken by the pipe. Once it reaches
/// <see cref="HighWaterMark"/> the writer starts a flush itself, so output goes out while a writer is still producing it,
/// and <see cref="IsWritable"/> turns <see langword="false"/> until the pipe has taken it (a caller that can wait awaits
/// <see cref="FlushAsync"/> then). A write that finds <see cref="MaxBufferedBytes"/> already held fails: the writer
/// closes, and the write throws <see cref="ConnectionClosedException"/>, since the peer is not taking what it is sent.
/// </para>
/// <para>
/// Once the peer has gone away (the flush reports completion or fails) or <see cref="Complete"/> was called, every
/// write and flush throws <see cref="ConnectionClosedException"/>: one typed error, whatever the transport.
/// </para>
/// </remarks>
public sealed class ProtocolWriter
{
    private readonly PipeWriter _output;
    private readonly Lock _sync = new();
    private readonly long _highWaterMark;
    private readonly long _maxBufferedBytes;
    private Action<object?>? _onOverflow;
    private object? _onOverflowState;

    // Bytes written and not yet flushed (in the pipe, or in _pending while a flush is under way), and bytes of the flush
    // under way that the pipe has not yet accepted. Written under _sync; read without it by IsWritable (a stale read only
    // delays the caller's flush by one message).
    private long _unflushedBytes;
    private long _inFlightBytes;
    private long _peakBufferedBytes;

    // All fields below are guarded by _sync.
    private bool _dirty;
    private bool _flushing;
    private bool _closed;
    private bool _completed;
    private Exception? _closeReason;
    // A codec failed part-way through a message: the pipe is completed with this, so the transport aborts rather than
    // send a torn message.
    private Exception? _torn;
    private long _writtenMessages;
    private long _writtenBytes;
    // Completed when the flush under way finishes; created only when someone waits for it.
    private TaskCompletionSource? _currentFlush;
    // Completed when the flush that will carry the bytes written during the current one finishes.
    private TaskCompletionSource? _nextFlush;
    // What is written while a flush is under way, for the next flush: the pipe is not written while its flush is pending.
    private PendingWrites? _pending;
    // Complete() came while a flush was under way: the pump completes the pipe when that flush (and the next) is done.
    private bool _completeRequested;
    private Exception? _completeError;

    /// <summary>
    /// Creates a protocol writer over <paramref name="output"/> that flushes by itself at
    /// <see cref="ProtocolDefaults.OutputHighWaterMark"/> and has no hard limit.
    /// </summary>
    /// <param name="output">The pipe to write. The caller keeps ownership of it unless it calls <see cref="Complete"/>.</param>
    public ProtocolWriter(PipeWriter output)
        : this(output, ProtocolDefaults.OutputHighWaterMark, maxBufferedBytes: null)
    {
    }

    /// <summary>Creates a protocol writer over <paramref name="output"/> with the given output bounds.</summary>
    /// <param name="output">The pipe to write. The caller keeps ownership of it unless it calls <see cref="Complete"/>.</param>
    /// <param name="highWaterMark">
    /// The bytes held (written and not yet taken by the pipe) at which the writer flushes by itself and
    /// <see cref="IsWritable"/> turns <see langword="false"/>.
    /// </param>
    /// <param name="maxBufferedBytes">
    /// The bytes held at which further writes fail and the writer closes, or <see langword="null"/> for no limit. At least
    /// <paramref name="highWaterMark"/>.
    /// </param>
    public ProtocolWriter(PipeWriter output, long highWaterMark, long? maxBufferedBytes)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfLessThan(highWaterMark, 1);
        if (maxBufferedBytes is long max)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(max, highWaterMark, nameof(maxBufferedBytes));
        }

        // The bounds count bytes through UnflushedBytes; a writer that cannot report them is counted by a thin wrapper.
        _output = output.CanGetUnflushedBytes ? output : new CountingPipeWriter(output);
        _highWaterMark = highWaterMark;
        _maxBufferedBytes = maxBufferedBytes ?? long.MaxValue;
    }

    /// <summary>The bytes held at which the writer flushes by itself and <see cref="IsWritable"/> turns false.</summary>
    public long HighWaterMark => _highWaterMark;

    /// <summary>The bytes held at which writes fail and the writer closes, or <see langword="null"/> for no limit.</summary>
    public long? MaxBufferedBytes => _maxBufferedBytes == long.MaxValue ? null : _maxBufferedBytes;

    /// <summary>
    /// The bytes written and not yet taken by the pipe: those not flushed, and those of a flush still waiting for room
    /// (for a connection: for the peer to read). What the pipe itself holds (up to its pause threshold, for Kestrel
    /// <c>MaxWriteBufferSize</c>) is not counted.
    /// </summary>
    public long BufferedBytes => Volatile.Read(ref _unflushedBytes) + Volatile.Read(ref _inFlightBytes);

    /// <summary>
    /// <see langword="false"/> while <see cref="BufferedBytes"/> is at or above <see cref="HighWaterMark"/>: a caller that
    /// can wait should await <see cref="FlushAsync"/> before it writes more.
    /// </summary>
    public bool IsWritable => BufferedBytes < _highWaterMark;

    /// <summary><see langword="true"/> once the connection is known to be closed or <see cref="Complete"/> was called.</summary>
    public bool IsClosed
    {
        get
        {
            lock (_sync)
            {
                return _closed;
            }
        }
    }

    /// <summary>Writes a message into the pipe's buffer without flushing it.</summary>
    /// <typeparam name="TMessage">The message type.</typeparam>
    /// <param name="writer">The codec that serialises the message.</param>
    /// <param name="message">The message.</param>
    /// <exception cref="ConnectionClosedException">The connection is closed.</exception>
    public void Write<TMessage>(IMessageWriter<TMessage> writer, TMessage message)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ConnectionClosedException? overflow = null;
        lock (_sync)
        {
            if (_closed)
            {
                ThrowHelper.ThrowConnectionClosed(_closeReason);
            }

            var held = Volatile.Read(ref _unflushedBytes) + _inFlightBytes;
            if (held >= _maxBufferedBytes)
            {
                overflow = Overflow(held);
            }
            else
            {
                // While a flush is under way the pipe is not touched: the message goes to the pending buffer.
                var pending = _flushing ? (_pending ??= new PendingWrites()) : null;
                var before = pending is null ? _output.UnflushedBytes : pending.Length;
                try
                {
                    if (pending is null)
                    {
                        writer.WriteMessage(message, _output);
                    }
                    else
                    {
                        writer.WriteMessage(message, pending);
                    }
                }
                catch (Exception ex)
                {
                    // The codec failed part-way: whatever part of the message it wrote must never be sent as if whole.
                    _torn = ex;
                    MarkClosed(ex);
                    throw;
                }

                var after = pending is null ? _output.UnflushedBytes : pending.Length;
                _dirty = true;
                _writtenMessages++;
                _writtenBytes += after - before;
                Volatile.Write(ref _unflushedBytes, after);
                if (after + _inFlightBytes > _peakBufferedBytes)
                {
                    _peakBufferedBytes = after + _inFlightBytes;
                }

                if (after >= _highWaterMark && !_flushing)
                {
                    // Past the high-water mark nobody may flush soon (a push while the loop waits for input, or a handler
                    // that answers one message at length): start sending now instead of holding it all.
                    StartFlush();
                }
            }
        }

        if (overflow is not null)
        {
            // Outside the lock: the owner's reaction (the server aborts the connection) may run other callbacks.
            _onOverflow?.Invoke(_onOverflowState);
            throw overflow;
        }
    }

    // Messages and bytes written so far (for the server's metrics); read by the connection's own loop.
    internal long WrittenMessages => Volatile.Read(ref _writtenMessages);

    internal long WrittenBytes => Volatile.Read(ref _writtenBytes);

    // The most BufferedBytes reached right after a write (for the server's metrics, recorded when the connection ends).
    internal long PeakBufferedBytes => Volatile.Read(ref _peakBufferedBytes);

    /// <summary>Writes a message and flushes it, with everything written before it.</summary>
    /// <typeparam name="TMessage">The message type.</typeparam>
    /// <param name="writer">The codec that serialises the message.</param>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancels the wait for the flush (the message stays queued).</param>
    /// <exception cref="ConnectionClosedException">The connection is closed.</exception>
    public ValueTask WriteAsync<TMessage>(IMessageWriter<TMessage> writer, TMessage message, CancellationToken cancellationToken = default)
    {
        Write(writer, message);
        return FlushAsync(cancellationToken);
    }

    /// <summary>
    /// Sends everything written so far. Completes when the pipe has accepted it, which respects the pipe's backpressure.
    /// Does nothing when nothing was written.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait (the data stays queued and is still sent).</param>
    /// <exception cref="ConnectionClosedException">The connection is closed.</exception>
    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        Task wait;
        lock (_sync)
        {
            if (_closed)
            {
                ThrowHelper.ThrowConnectionClosed(_closeReason);
            }

            if (_flushing)
            {
                // Another caller's flush is in flight. Bytes written since it started go out in the next flush, which
                // the pump starts when this one finishes; otherwise our bytes are already in the one under way.
                wait = _dirty
                    ? (_nextFlush ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task
                    : (_currentFlush ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
            else
            {
                if (!_dirty)
                {
                    return default;
                }

                var flush = BeginFlush(out var bytes);
                if (flush.IsCompleted)
                {
                    // The common case: the pipe is below its threshold, nothing to wait for, no allocation.
                    CompleteSynchronousFlush(flush);
                    return default;
                }

                Volatile.Write(ref _inFlightBytes, bytes);
                _flushing = true;
                if (!cancellationToken.CanBeCanceled)
                {
                    // Backpressure with nothing to cancel the wait (the server loop's case): the caller runs the pump
                    // itself, in a pooled state machine, so waiting for a slow peer allocates nothing either.
                    return PumpAsync(flush, ownerAwaits: true);
                }

                wait = (_currentFlush = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                _ = PumpAsync(flush, ownerAwaits: false).AsTask();
            }
        }

        return cancellationToken.CanBeCanceled ? new ValueTask(wait.WaitAsync(cancellationToken)) : new ValueTask(wait);
    }

    /// <summary>
    /// Stops the writer: later writes and flushes throw <see cref="ConnectionClosedException"/>, and the pipe is
    /// completed (for a connection: the peer sees the end of the stream once buffered bytes are sent).
    /// Bytes written but not flushed are still handed to the pipe. Calling it again does nothing.
    /// </summary>
    /// <param name="exception">An error to complete the pipe with, or <see langword="null"/> for a clean end.</param>
    public void Complete(Exception? exception = null)
    {
        lock (_sync)
        {
            MarkClosed(null);
            if (_completed || _completeRequested)
            {
                return;
            }

            if (_flushing)
            {
                // The pipe may not be touched until its flush is done: the pump completes it then, after the pending bytes.
                _completeRequested = true;
                _completeError = exception;
                return;
            }

            _completed = true;
            _output.Complete(exception ?? _torn);
        }
    }

    // Called under _sync by the pump once no flush is under way: a Complete() that came during a flush takes effect now.
    private void CompleteIfRequested()
    {
        if (_completeRequested && !_completed)
        {
            _completed = true;
            _output.Complete(_completeError ?? _torn);
        }
    }

    // Called under _sync with the pipe dirty and no flush under way: hands what was written to the pipe, and says how many
    // bytes that was. The caller looks at IsCompleted once and counts the bytes in flight only if it is false: a second
    // look could see the flush complete in between, and bytes counted then would stay counted (OutputBoundTests saw
    // twice the bound held that way). The pipe is flushed without any caller's token: cancelling one caller's wait must
    // not cancel a flush that carries other callers' bytes.
    private ValueTask<FlushResult> BeginFlush(out long bytes)
    {
        _dirty = false;
        bytes = _output.UnflushedBytes;
        ValueTask<FlushResult> flush;
        try
        {
            flush = _output.FlushAsync(CancellationToken.None);
        }
        catch (Exception ex)
        {
            MarkClosed(ex);
            throw CreateClosed(ex);
        }

        Volatile.Write(ref _unflushedBytes, 0);
        return flush;
    }

    // Called under _sync by a write that crossed the high-water mark with no flush under way: flushes with no caller
    // waiting. Allocates only when the pipe is full, like any flush that has to wait.
    private void StartFlush()
    {
        var flush = BeginFlush(out var bytes);
        if (flush.IsCompleted)
        {
            CompleteSynchronousFlush(flush);
            return;
        }

        Volatile.Write(ref _inFlightBytes, bytes);
        _flushing = true;
        _ = PumpAsync(flush, ownerAwaits: false).AsTask();
    }

    // Called under _sync by a write that found the bound already held: the peer is not taking what it is sent. The
    // writer closes and a flush waiting for the peer is woken; the caller tells the owner (the server aborts the
    // connection) and throws the error returned.
    private ConnectionClosedException Overflow(long held)
    {
        var error = new ConnectionClosedException(
            $"The connection was closed: it held {held} bytes that the peer had not taken, the limit being {_maxBufferedBytes}. "
            + "A writer that produces more than that for one message must await FlushAsync (or WriteAsync) as it goes.");
        Overflowed = true;
        MarkClosed(error);
        if (_flushing)
        {
            _output.CancelPendingFlush();
        }

        return error;
    }

    /// <summary><see langword="true"/> once a write found <see cref="MaxBufferedBytes"/> held and closed the writer.</summary>
    internal bool Overflowed { get; private set; }

    // The server's loop aborts the connection when the writer overflows, whichever thread wrote.
    internal void OnOverflow(Action<object?> callback, object? state)
    {
        _onOverflowState = state;
        _onOverflow = callback;
    }

    // Called under _sync with a flush that has already completed.
    private void CompleteSynchronousFlush(ValueTask<FlushResult> flush)
    {
        FlushResult result;
        try
        {
            result = flush.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            MarkClosed(ex);
            throw CreateClosed(ex);
        }

        if (result.IsCompleted)
        {
            // The peer stopped reading: the bytes just flushed went nowhere.
            MarkClosed(null);
            ThrowHelper.ThrowConnectionClosed(null);
        }
    }

    // Keeps flushing while writers keep the pipe dirty, then hands the writer back to the synchronous path. Runs only
    // when a flush had to wait (backpressure). When the caller that started the flush awaits this pump directly
    // (ownerAwaits), a failure of that first flush is thrown to it; other waiters hear through their task sources.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask PumpAsync(ValueTask<FlushResult> flush, bool ownerAwaits)
    {
        ConnectionClosedException? ownerError = null;
        var first = true;
        while (true)
        {
            Exception? error = null;
            var peerGone = false;
            try
            {
                var result = await flush.ConfigureAwait(false);
                // Cancelled only by an overflow, which has already closed the writer.
                peerGone = result.IsCompleted || result.IsCanceled;
            }
            catch (Exception ex)
            {
                error = ex;
            }

            TaskCompletionSource? finished;
            TaskCompletionSource? abandoned = null;
            var again = false;
            lock (_sync)
            {
                finished = _currentFlush;
                _currentFlush = null;
                Volatile.Write(ref _inFlightBytes, 0);

                if (error is not null || peerGone)
                {
                    MarkClosed(error);
                }

                // After Complete() the bytes written before it still go out; after a failure or an overflow they do not.
                var sendPending = _dirty && (!_closed || (_completeRequested && error is null && !peerGone && !Overflowed && _torn is null));
                if (sendPending)
                {
                    _currentFlush = _nextFlush;
                    _nextFlush = null;
                    try
                    {
                        _pending?.CopyTo(_output);

                        // Awaited below whatever its state, and uncounted once it has completed.
                        flush = BeginFlush(out var bytes);
                        Volatile.Write(ref _inFlightBytes, bytes);
                        again = true;
                    }
                    catch (ConnectionClosedException ex)
                    {
                        error = ex.InnerException ?? ex;
                    }
                }

                if (!again)
                {
                    _flushing = false;
                    _pending?.Clear();
                    Volatile.Write(ref _unflushedBytes, 0);
                    CompleteIfRequested();

                    abandoned = _currentFlush ?? _nextFlush;
                    _currentFlush = null;
                    _nextFlush = null;
                }
            }

            if (error is not null || peerGone)
            {
                error ??= _closeReason;
                finished?.TrySetException(CreateClosed(error));
                abandoned?.TrySetException(CreateClosed(error));
                if (first && ownerAwaits)
                {
                    ownerError = CreateClosed(error);
                }
            }
            else
            {
                finished?.TrySetResult();
                abandoned?.TrySetException(CreateClosed(_closeReason));
            }

            first = false;
            if (!again)
            {
                break;
            }
        }

        if (ownerError is not null)
        {
            throw ownerError;
        }
    }

    private void MarkClosed(Exception? reason)
    {
        _closed = true;
        _closeReason ??= reason;
    }

    private static ConnectionClosedException CreateClosed(Exception? reason) =>
        new("The connection is closed; nothing more can be written to it.", reason);
}
