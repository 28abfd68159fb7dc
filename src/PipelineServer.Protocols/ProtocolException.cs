namespace PipelineServer.Protocols;

/// <summary>
/// The peer sent bytes that violate the protocol. The connection cannot continue and should be closed.
/// </summary>
/// <remarks>
/// This is the only exception type codecs and <see cref="ProtocolReader"/> throw for bad input, so that a server can
/// tell a misbehaving peer (log it, close that connection) from an I/O failure or a bug.
/// </remarks>
public sealed class ProtocolException : Exception
{
    /// <summary>Creates a protocol exception.</summary>
    /// <param name="kind">The kind of violation.</param>
    /// <param name="message">A reason a log can show, naming the offending value and the limit where there is one.</param>
    public ProtocolException(ProtocolErrorKind kind, string message)
        : base(message)
    {
        Kind = kind;
    }

    /// <summary>Creates a protocol exception with an inner exception.</summary>
    /// <param name="kind">The kind of violation.</param>
    /// <param name="message">A reason a log can show.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public ProtocolException(ProtocolErrorKind kind, string message, Exception? innerException)
        : base(message, innerException)
    {
        Kind = kind;
    }

    /// <summary>The kind of violation.</summary>
    public ProtocolErrorKind Kind { get; }
}
