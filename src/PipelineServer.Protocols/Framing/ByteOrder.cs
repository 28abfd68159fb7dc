namespace PipelineServer.Protocols.Framing;

/// <summary>The byte order of a multi-byte integer on the wire.</summary>
public enum ByteOrder
{
    /// <summary>Most significant byte first (network byte order).</summary>
    BigEndian = 0,

    /// <summary>Least significant byte first.</summary>
    LittleEndian = 1,
}
