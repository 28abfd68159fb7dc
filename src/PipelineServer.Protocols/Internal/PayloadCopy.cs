using System.Buffers;

namespace PipelineServer.Protocols.Internal;

internal static class PayloadCopy
{
    // Copies a possibly multi-segment payload into a buffer writer, asking for spans no larger than needed.
    public static void Write(in ReadOnlySequence<byte> payload, IBufferWriter<byte> output)
    {
        if (payload.IsSingleSegment)
        {
            output.Write(payload.FirstSpan);
            return;
        }

        foreach (var segment in payload)
        {
            output.Write(segment.Span);
        }
    }
}
