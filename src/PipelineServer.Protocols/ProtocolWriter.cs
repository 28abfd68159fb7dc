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
/// Once the peer has gone away (the flush reports completion or fails) or <see cref="Complete"/> was called, every
/// write and flush throws <see cref="ConnectionClosedException"/>: one typed error, whatever the transport.
/// </para>
/// </remarks>
public sealed class ProtocolWriter
{
    private readonly PipeWriter _output;
    private readonly Lock _sync = new();

    // All fields below are guarded by _sync.
    private bool _dirty;
    private bool _flushing;
    private bool _closed;
    private bool _completed;
    private Exception? _closeReason;
    private long _writtenMessages;
    private long _writtenBytes;
    // Completed when the flush under way finishes; created only when someone waits for it.
    private TaskCompletionSource? _currentFlush;
    // Completed when the flush that will carry the bytes written during the current one finishes.
    private TaskCompletionSource? _nextFlush;

    /// <summary>Creates a protocol writer over <paramref name="output"/>.</summary>
    /// <param name="output">The pipe to write. The caller keeps ownership of it unless it calls <see cref="Complete"/>.</param>
    public ProtocolWriter(PipeWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
    }

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
        lock (_sync)
        {
            if (_closed)
            {
                ThrowHelper.ThrowConnectionClosed(_closeReason);
            }

            var before = _output.CanGetUnflushedBytes ? _output.UnflushedBytes : 0;
            writer.WriteMessage(message, _output);
            _dirty = true;
            _writtenMessages++;
            _writtenBytes += _output.CanGetUnflushedBytes ? _output.UnflushedBytes - before : 0;
        }
    }

    // Messages and bytes written so far (for the server's metrics); read by the connection's own loop.
    internal long WrittenMessages => Volatile.Read(ref _writtenMessages);

    internal long WrittenBytes => Volatile.Read(ref _writtenBytes);

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

                _dirty = false;
                ValueTask<FlushResult> flush;
                try
                {
                    // The pipe is flushed without the caller's token: cancelling one caller's wait must not cancel a
                    // flush that carries other callers' bytes.
                    flush = _output.FlushAsync(CancellationToken.None);
                }
                catch (Exception ex)
                {
                    MarkClosed(ex);
                    throw CreateClosed(ex);
                }

                if (flush.IsCompleted)
                {
                    // The common case: the pipe is below its threshold, nothing to wait for, no allocation.
                    CompleteSynchronousFlush(flush);
                    return default;
                }

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
            if (!_completed)
            {
                _completed = true;
                _output.Complete(exception);
            }
        }
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
                peerGone = result.IsCompleted;
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

                if (error is not null || peerGone)
                {
                    MarkClosed(error);
                }

                if (!_closed && _dirty)
                {
                    _dirty = false;
                    _currentFlush = _nextFlush;
                    _nextFlush = null;
                    try
                    {
                        flush = _output.FlushAsync(CancellationToken.None);
                        again = true;
                    }
                    catch (Exception ex)
                    {
                        MarkClosed(ex);
                        error = ex;
                    }
                }

                if (!again)
                {
                    _flushing = false;
                    abandoned = _currentFlush ?? _nextFlush;
                    _currentFlush = null;
                    _nextFlush = null;
                }
            }

            if (error is not null || peerGone)
            {
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
