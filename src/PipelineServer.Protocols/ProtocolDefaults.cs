namespace PipelineServer.Protocols;

/// <summary>Default limits shared by the protocol layer.</summary>
public static class ProtocolDefaults
{
    /// <summary>
    /// The default maximum size of one message, 1 MiB: the number of bytes a single message may occupy in the stream,
    /// headers and delimiters included.
    /// </summary>
    public const int MaxMessageSize = 1024 * 1024;

    /// <summary>
    /// The default output high-water mark, 64 KiB: once a connection holds this many bytes written and not yet taken by
    /// the transport, the writer flushes by itself and the server stops reading that connection until they are taken.
    /// </summary>
    public const int OutputHighWaterMark = 64 * 1024;

    /// <summary>
    /// The default limit on the bytes a server connection may hold written and not yet taken by the transport, 4 MiB: a
    /// write that finds this much held closes the connection instead of growing memory for a peer that does not read.
    /// </summary>
    public const int MaxBufferedOutput = 4 * 1024 * 1024;
}
