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
    /// When <see langword="true"/>, each connection gets its own dependency-injection scope, exposed as
    /// <see cref="ProtocolSession{TOutbound}.Services"/> and disposed when the connection ends. Off by default.
    /// </summary>
    public bool CreateServiceScope { get; set; }
}
