namespace PipelineServer.Protocols;

/// <summary>What kind of protocol violation a <see cref="ProtocolException"/> reports.</summary>
public enum ProtocolErrorKind
{
    /// <summary>The bytes do not follow the protocol's grammar (a corrupt length, a bad type byte, an over-long varint).</summary>
    Malformed = 0,

    /// <summary>A message is, or is declared to be, larger than the configured maximum.</summary>
    MessageTooLarge = 1,

    /// <summary>The stream ended in the middle of a message.</summary>
    Truncated = 2,
}
