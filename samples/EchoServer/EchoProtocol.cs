using System.Buffers;
using Microsoft.AspNetCore.Connections;
using PipelineServer;
using PipelineServer.Protocols;
using PipelineServer.Protocols.Framing;

namespace EchoServer;

/// <summary>
/// The echo protocol: each frame is a 4-byte big-endian unsigned length, then that many payload bytes; the server
/// replies with the identical frame. The client side (tests, the load harness) uses the same codecs.
/// </summary>
public static class EchoProtocol
{
    /// <summary>The URL the sample listens on when none is configured.</summary>
    public const string DefaultUrl = "tcp://127.0.0.1:7000";

    /// <summary>The default largest frame, length field included: 1 MiB.</summary>
    public const int DefaultMaxFrameLength = ProtocolDefaults.MaxMessageSize;

    /// <summary>The size of the length field.</summary>
    public const int HeaderLength = 4;

    /// <summary>Writes frames: the length, then the payload.</summary>
    public static LengthFieldPrepender Writer { get; } = new(lengthFieldLength: HeaderLength);

    /// <summary>Creates the frame reader; it yields payloads (the length field stripped).</summary>
    /// <param name="maxFrameLength">The largest frame accepted, length field included.</param>
    /// <returns>The reader.</returns>
    public static LengthFieldFrameReader CreateReader(int maxFrameLength = DefaultMaxFrameLength) =>
        new(maxFrameLength: maxFrameLength, lengthFieldLength: HeaderLength, initialBytesToStrip: HeaderLength);

    /// <summary>Ends a connection pipeline with the echo protocol.</summary>
    /// <param name="builder">The connection pipeline (for example Kestrel's ListenOptions).</param>
    /// <param name="maxFrameLength">The largest frame accepted, length field included.</param>
    /// <returns>The builder.</returns>
    public static IConnectionBuilder UseEcho(this IConnectionBuilder builder, int maxFrameLength = DefaultMaxFrameLength) =>
        builder.UseProtocol(CreateReader(maxFrameLength), Writer, new EchoHandler(), options => options.MaxMessageSize = maxFrameLength);
}

/// <summary>Replies to every frame with the same frame.</summary>
public sealed class EchoHandler : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
{
    /// <inheritdoc />
    public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
    {
        // The payload is a slice of the receive buffer; the writer copies it into the send buffer before this returns.
        session.Write(message);
        return default;
    }
}
