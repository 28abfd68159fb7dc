namespace PipelineServer.Protocols;

/// <summary>The outcome of <see cref="ProtocolReader.ReadAsync{TMessage}"/>: a message, the end of the stream, or a cancelled read.</summary>
/// <typeparam name="TMessage">The message type.</typeparam>
public readonly struct ProtocolReadResult<TMessage>
{
    private readonly TMessage _message;
    private readonly byte _flags;

    private const byte HasMessageFlag = 1;
    private const byte CompletedFlag = 2;
    private const byte CanceledFlag = 4;

    private ProtocolReadResult(TMessage message, byte flags)
    {
        _message = message;
        _flags = flags;
    }

    internal static ProtocolReadResult<TMessage> FromMessage(TMessage message) => new(message, HasMessageFlag);

    internal static ProtocolReadResult<TMessage> Completed => new(default!, CompletedFlag);

    internal static ProtocolReadResult<TMessage> Canceled => new(default!, CanceledFlag);

    /// <summary>
    /// The message. Its buffers belong to the pipe and stay valid only until <see cref="ProtocolReader.Advance"/>
    /// is called. Throws when the result carries no message.
    /// </summary>
    /// <exception cref="InvalidOperationException">The result is a completion or a cancellation.</exception>
    public TMessage Message
    {
        get
        {
            if ((_flags & HasMessageFlag) == 0)
            {
                Internal.ThrowHelper.ThrowInvalidOperationException_NoMessage();
            }

            return _message;
        }
    }

    /// <summary><see langword="true"/> when the result carries a message.</summary>
    public bool HasMessage => (_flags & HasMessageFlag) != 0;

    /// <summary><see langword="true"/> when the stream ended cleanly, on a message boundary. No message is carried.</summary>
    public bool IsCompleted => (_flags & CompletedFlag) != 0;

    /// <summary>
    /// <see langword="true"/> when the read was cancelled by <see cref="System.IO.Pipelines.PipeReader.CancelPendingRead"/>.
    /// No message is carried; buffered bytes are kept for the next read.
    /// </summary>
    public bool IsCanceled => (_flags & CanceledFlag) != 0;
}
