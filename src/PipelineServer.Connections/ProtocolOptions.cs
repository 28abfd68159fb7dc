using PipelineServer.Protocols;

namespace PipelineServer;

/// <summary>Options for running a protocol on a connection, set per endpoint.</summary>
public sealed class ProtocolOptions
{
    /// <summary>
    /// The most bytes one inbound message may occupy in the stream, headers and delimiters included. Always on;
    /// defaults to <see cref="ProtocolDefaults.MaxMessageSize"/> (1 MiB). Set it at least as large as the codec's own
    /// limit, which rejects oversize frames from their declared length.
    /// </summary>
    public int MaxMessageSize { get; set; } = ProtocolDefaults.MaxMessageSize;

    /// <summary>
    /// The output high-water mark, in bytes: once a connection holds this much written and not yet taken by the transport,
    /// its writer flushes by itself and the server reads no further message from that connection until the transport
    /// has taken it (Kestrel resumes below half its <c>MaxWriteBufferSize</c>). Defaults to
    /// <see cref="ProtocolDefaults.OutputHighWaterMark"/> (64 KiB). A peer that sends requests and never reads therefore
    /// holds at most this, plus one message's responses, plus the transport's own buffer.
    /// </summary>
    public int OutputHighWaterMark { get; set; } = ProtocolDefaults.OutputHighWaterMark;

    /// <summary>
    /// The most bytes a connection may hold written and not yet taken by the transport, or <see langword="null"/> for no
    /// limit. A write that finds this much held (responses the peer is not reading, pushes to it from other threads)
    /// fails with <see cref="ConnectionClosedException"/> and the connection is aborted (close reason
    /// <c>output_overflow</c>). Defaults to <see cref="ProtocolDefaults.MaxBufferedOutput"/> (4 MiB). A handler that
    /// answers one message with more than this must await <see cref="ProtocolSession{TOutbound}.WriteAsync"/> or
    /// <see cref="ProtocolSession{TOutbound}.FlushAsync"/> as it writes.
    /// </summary>
    public long? MaxBufferedOutput { get; set; } = ProtocolDefaults.MaxBufferedOutput;

    /// <summary>
    /// When <see langword="true"/>, each connection gets its own dependency-injection scope, exposed as
    /// <see cref="ProtocolSession{TOutbound}.Services"/> and disposed when the connection ends. Off by default.
    /// </summary>
    public bool CreateServiceScope { get; set; }
}
