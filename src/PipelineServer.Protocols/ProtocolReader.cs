using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using PipelineServer.Protocols.Internal;

namespace PipelineServer.Protocols;

/// <summary>
/// Reads framed messages from a <see cref="PipeReader"/> with any <see cref="IMessageReader{TMessage}"/>, enforcing a
/// maximum message size and reporting a stream that ends inside a message as a <see cref="ProtocolException"/>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Lifetime of a message.</b> A message returned by <see cref="ReadAsync{TMessage}"/> or <see cref="TryRead{TMessage}"/>
/// may be a slice of the pipe's memory: no bytes are copied. It stays valid until <see cref="Advance"/> is called, and
/// not a moment longer: after that the pipe may reuse the memory for other data. Handle the message (or copy what you
/// need, for example with <see cref="BuffersExtensions.ToArray{T}(in ReadOnlySequence{T})"/>) before calling
/// <see cref="Advance"/>. Reading again before <see cref="Advance"/> throws <see cref="InvalidOperationException"/>, as does
/// calling <see cref="Advance"/> twice, so a forgotten release shows up at once instead of as corrupt data later.
/// </para>
/// <para>
/// <b>Limits.</b> A codec that knows a message's size from its header rejects it as soon as the header is read. Beyond
/// that, this reader never holds more than <see cref="MaxMessageSize"/> unparsed bytes: when that many are buffered and
/// the codec still cannot produce a message, it throws <see cref="ProtocolException"/> with
/// <see cref="ProtocolErrorKind.MessageTooLarge"/> instead of waiting for more. A message the codec does produce is
/// held to the same limit, so whether a message is accepted never depends on how its bytes were split into reads.
/// </para>
/// <para>
/// <b>End of stream.</b> When the pipe completes on a message boundary the read result has
/// <see cref="ProtocolReadResult{TMessage}.IsCompleted"/> set. When it completes with part of a message buffered the
/// reader throws <see cref="ProtocolException"/> with <see cref="ProtocolErrorKind.Truncated"/>: a cut-off message is a
/// protocol error, not a clean close.
/// </para>
/// <para>
/// <b>Batching.</b> Messages are parsed one at a time from the bytes the pipe returned. <see cref="TryRead{TMessage}"/>
/// returns <see langword="false"/> exactly when the next read would have to wait for the network, which is the moment to
/// flush the responses of a pipelined batch.
/// </para>
/// <para>
/// <b>Codec state.</b> The reader keeps the codec's <see cref="MessageReaderState"/> for the message being received,
/// so a codec instance can be shared by every connection while a message trickled in many reads costs each read only
/// its new bytes. The state is reset when a message is returned or bytes are skipped, when the codec or the size limit
/// throws, at the end of the stream, and when a different codec is passed.
/// </para>
/// <para>A reader is used by one consumer at a time; it is not thread-safe.</para>
/// </remarks>
public sealed class ProtocolReader
{
    private readonly PipeReader _input;
    private readonly int _maxMessageSize;

    // The pipe's buffer being parsed. While _holdingBuffer is set it has not been handed back with AdvanceTo, so its
    // memory (and every message sliced from it) stays valid.
    private ReadOnlySequence<byte> _buffer;
    private SequencePosition _consumed;
    private SequencePosition _examined;
    private bool _holdingBuffer;
    private bool _bufferIsFinal;
    private bool _messageOutstanding;
    private bool _readInProgress;
    private bool _ended;
    private long _consumedBytes;

    // The codec's progress through the message being received, kept here so that the codec instance stays shared and
    // pure while each arrival of a trickled message costs only its new bytes. It belongs to _stateOwner, the codec that
    // wrote it; another codec starts from scratch.
    private MessageReaderState _state;
    private object? _stateOwner;

    /// <summary>Creates a protocol reader over <paramref name="input"/>.</summary>
    /// <param name="input">The pipe to read. The caller keeps ownership and completes it.</param>
    /// <param name="maxMessageSize">
    /// The most bytes one message may occupy in the stream, headers and delimiters included. Defaults to
    /// <see cref="ProtocolDefaults.MaxMessageSize"/>.
    /// </param>
    public ProtocolReader(PipeReader input, int maxMessageSize = ProtocolDefaults.MaxMessageSize)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxMessageSize);
        _input = input;
        _maxMessageSize = maxMessageSize;
    }

    /// <summary>The most bytes one message may occupy in the stream.</summary>
    public int MaxMessageSize => _maxMessageSize;

    // Bytes handed back to the pipe as consumed so far (counted once per batch, not per message).
    internal long ConsumedBytes => _consumedBytes;

    /// <summary>
    /// Reads the next message, waiting for bytes from the pipe when no whole message is buffered.
    /// </summary>
    /// <typeparam name="TMessage">The message type.</typeparam>
    /// <param name="reader">The codec that parses the message.</param>
    /// <param name="cancellationToken">Cancels the wait for data; the reader stays usable.</param>
    /// <returns>
    /// A message (valid until <see cref="Advance"/>), or a completed result at a clean end of stream, or a cancelled
    /// result after <see cref="PipeReader.CancelPendingRead"/>. Completes synchronously when a message is already buffered.
    /// </returns>
    /// <exception cref="ProtocolException">The input violates the protocol, exceeds the size limit, or ends inside a message.</exception>
    /// <exception cref="InvalidOperationException">The previous message was not released with <see cref="Advance"/>.</exception>
    public ValueTask<ProtocolReadResult<TMessage>> ReadAsync<TMessage>(IMessageReader<TMessage> reader, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ThrowIfCannotRead();

        if (_holdingBuffer && TryTakeHeld(reader, out var held))
        {
            return new(held);
        }

        if (_ended)
        {
            return new(ProtocolReadResult<TMessage>.Completed);
        }

        return ReadFromPipeAsync(reader, cancellationToken);
    }

    /// <summary>
    /// Reads the next message if one can be had without waiting: from bytes already buffered, or already in the pipe.
    /// </summary>
    /// <typeparam name="TMessage">The message type.</typeparam>
    /// <param name="reader">The codec that parses the message.</param>
    /// <param name="result">A message, a completed result or a cancelled result, when the method returns <see langword="true"/>.</param>
    /// <returns><see langword="false"/> when the next message needs bytes that have not arrived yet.</returns>
    /// <exception cref="ProtocolException">The input violates the protocol, exceeds the size limit, or ends inside a message.</exception>
    /// <exception cref="InvalidOperationException">The previous message was not released with <see cref="Advance"/>.</exception>
    public bool TryRead<TMessage>(IMessageReader<TMessage> reader, out ProtocolReadResult<TMessage> result)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ThrowIfCannotRead();

        if (!_holdingBuffer)
        {
            if (_ended)
            {
                result = ProtocolReadResult<TMessage>.Completed;
                return true;
            }

            if (!_input.TryRead(out var readResult))
            {
                result = default;
                return false;
            }

            return TryReadFromCore(reader, readResult, out result);
        }

        return TryTakeHeld(reader, out result);
    }

    /// <summary>
    /// Releases the message last returned. Its buffers must not be used afterwards.
    /// </summary>
    /// <exception cref="InvalidOperationException">No message is outstanding.</exception>
    public void Advance()
    {
        if (!_messageOutstanding)
        {
            ThrowHelper.ThrowInvalidOperationException_NothingToAdvance();
        }

        // The message's bytes were already counted as consumed when it was parsed; the pipe gets them back the next time
        // the reader needs more data, so a batch of pipelined messages costs one AdvanceTo.
        _messageOutstanding = false;
    }

    private void ThrowIfCannotRead()
    {
        if (_messageOutstanding)
        {
            ThrowHelper.ThrowInvalidOperationException_NotAdvanced();
        }

        if (_readInProgress)
        {
            ThrowHelper.ThrowInvalidOperationException_ConcurrentRead();
        }
    }

    // For the server's connection loop, after TryRead returned false (so no buffer is held and the stream has not ended):
    // the loop awaits the pipe itself and hands each result to TryReadFrom, so a batch that has to wait for the network
    // resumes one state machine instead of ReadFromPipeAsync's and then the loop's.
    internal ValueTask<ReadResult> WaitForDataAsync() => _input.ReadAsync();

    // The body of ReadFromPipeAsync's loop for one pipe result: true with a message, the end of the stream or a cancelled
    // read; false when the bytes so far hold no whole message (they are handed back, and the caller waits again).
    internal bool TryReadFrom<TMessage>(IMessageReader<TMessage> reader, in ReadResult readResult, out ProtocolReadResult<TMessage> result)
    {
        ThrowIfCannotRead();
        return TryReadFromCore(reader, readResult, out result);
    }

    private bool TryReadFromCore<TMessage>(IMessageReader<TMessage> reader, in ReadResult readResult, out ProtocolReadResult<TMessage> result)
    {
        Hold(readResult);
        if (readResult.IsCanceled)
        {
            result = ProtocolReadResult<TMessage>.Canceled;
            return true;
        }

        return TryTakeHeld(reader, out result);
    }

    // The next message from the held buffer, or its end; false when it holds no whole message (it is handed back).
    private bool TryTakeHeld<TMessage>(IMessageReader<TMessage> reader, out ProtocolReadResult<TMessage> result)
    {
        if (TryParseHeld(reader, out var message))
        {
            _messageOutstanding = true;
            result = ProtocolReadResult<TMessage>.FromMessage(message);
            return true;
        }

        if (_bufferIsFinal)
        {
            result = EndOfStream<TMessage>();
            return true;
        }

        ReleaseBuffer();
        result = default;
        return false;
    }

    // Pooled so that waiting for the next batch allocates nothing in steady state.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ProtocolReadResult<TMessage>> ReadFromPipeAsync<TMessage>(IMessageReader<TMessage> reader, CancellationToken cancellationToken)
    {
        _readInProgress = true;
        try
        {
            while (true)
            {
                var readResult = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
                if (TryReadFromCore(reader, readResult, out var result))
                {
                    return result;
                }
            }
        }
        finally
        {
            _readInProgress = false;
        }
    }

    private void Hold(in ReadResult readResult)
    {
        _buffer = readResult.Buffer;
        _consumed = _buffer.Start;
        _examined = _buffer.End;
        _bufferIsFinal = readResult.IsCompleted;
        _holdingBuffer = true;
    }

    private bool TryParseHeld<TMessage>(IMessageReader<TMessage> reader, out TMessage message)
    {
        var remaining = _buffer.Slice(_consumed);
        if (remaining.IsEmpty)
        {
            _examined = remaining.End;
            message = default!;
            return false;
        }

        if (!ReferenceEquals(_stateOwner, reader))
        {
            _state = default;
            _stateOwner = reader;
        }

        var consumed = remaining.Start;
        var examined = remaining.End;
        bool parsed;
        try
        {
            parsed = reader.TryParseMessage(remaining, ref _state, ref consumed, ref examined, out message!);
        }
        catch
        {
            // The codec stopped part way: what it noted may not describe the input any more.
            _state.Reset();
            throw;
        }

        var moved = !consumed.Equals(remaining.Start);
        if (moved)
        {
            // The state counts from the start of the message; a new one starts here.
            _state.Reset();
        }

        if (parsed)
        {
            if (!moved)
            {
                ThrowHelper.ThrowInvalidOperationException_NothingConsumed(reader);
            }

            // The limit holds for every message, not only for one still being buffered: without this check a message
            // over it was rejected when it trickled in and returned when it arrived in one read.
            var length = remaining.Slice(remaining.Start, consumed).Length;
            if (length > _maxMessageSize)
            {
                ThrowHelper.ThrowMessageTooLarge(length, _maxMessageSize);
            }

            _consumed = consumed;
            return true;
        }

        // A reader may consume bytes without producing a message (skipping what it has dealt with).
        _consumed = consumed;
        _examined = examined;

        var unparsed = remaining.Slice(consumed).Length;
        if (unparsed > _maxMessageSize)
        {
            _state.Reset();
            ThrowHelper.ThrowBufferedTooLarge(unparsed, _maxMessageSize);
        }

        return false;
    }

    private void ReleaseBuffer()
    {
        _holdingBuffer = false;
        _consumedBytes += _buffer.Slice(_buffer.Start, _consumed).Length;
        _input.AdvanceTo(_consumed, _examined);
    }

    private ProtocolReadResult<TMessage> EndOfStream<TMessage>()
    {
        _state.Reset();
        var leftover = _buffer.Slice(_consumed).Length;
        _holdingBuffer = false;
        _ended = true;
        _consumedBytes += _buffer.Length - leftover;
        _input.AdvanceTo(_buffer.End);
        if (leftover > 0)
        {
            ThrowHelper.ThrowTruncated(leftover);
        }

        return ProtocolReadResult<TMessage>.Completed;
    }
}
