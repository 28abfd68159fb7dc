namespace PipelineServer.Protocols;

/// <summary>Default limits shared by the protocol layer.</summary>
public static class ProtocolDefaults
{
    /// <summary>
    /// The default maximum size of one message, 1 MiB: the number of bytes a single message may occupy in the stream,
    /// headers and delimiters included.
    /// </summary>
    public const int MaxMessageSize = 1024 * 1024;
}
