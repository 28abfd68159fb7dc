using System.Buffers;

namespace PipelineServer.Protocols.Framing;

/// <summary>
/// Writes a payload after its length as a base-128 varint: the writer that matches <see cref="VarintFrameReader"/>
/// (and protobuf's <c>writeDelimitedTo</c>). The prefix is always the shortest encoding.
/// </summary>
public sealed class VarintFrameWriter : IMessageWriter<ReadOnlySequence<byte>>
{
    /// <inheritdoc />
    public void WriteMessage(ReadOnlySequence<byte> message, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (message.Length > uint.MaxValue)
        {
            throw new ArgumentException($"The payload is {message.Length} bytes; a varint length prefix carries at most {uint.MaxValue}.", nameof(message));
        }

        var total = VarintFrameReader.MaxPrefixLength + message.Length;
        var span = output.GetSpan((int)Math.Min(total, 4096));
        var value = (uint)message.Length;
        var n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[n++] = (byte)value;
        if (message.IsSingleSegment && message.FirstSpan.Length <= span.Length - n)
        {
            message.FirstSpan.CopyTo(span[n..]);
            output.Advance(n + message.FirstSpan.Length);
            return;
        }

        output.Advance(n);
        Internal.PayloadCopy.Write(message, output);
    }
}
