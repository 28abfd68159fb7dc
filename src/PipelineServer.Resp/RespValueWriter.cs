using System.Buffers;
using PipelineServer.Protocols;

namespace PipelineServer.Resp;

/// <summary>Writes a <see cref="RespValue"/> as it was encoded (its <see cref="RespValue.Raw"/> bytes).</summary>
public sealed class RespValueWriter : IMessageWriter<RespValue>
{
    /// <summary>The instance.</summary>
    public static RespValueWriter Instance { get; } = new();

    /// <inheritdoc />
    public void WriteMessage(RespValue message, IBufferWriter<byte> output)
    {
        foreach (var segment in message.Raw)
        {
            output.Write(segment.Span);
        }
    }
}
