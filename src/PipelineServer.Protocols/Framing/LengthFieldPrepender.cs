using System.Buffers;
using System.Buffers.Binary;
using PipelineServer.Protocols.Internal;

namespace PipelineServer.Protocols.Framing;

/// <summary>
/// Writes a payload after a length field, with the options of Netty's <c>LengthFieldPrepender</c>: the writer that
/// matches <see cref="LengthFieldFrameReader"/>.
/// </summary>
/// <remarks>
/// The field holds <c>payload length + LengthAdjustment</c>, plus <see cref="LengthFieldLength"/> when
/// <see cref="LengthIncludesLengthFieldLength"/> is set. A value that is negative or does not fit the field is refused
/// with <see cref="ArgumentException"/> before anything is written.
/// </remarks>
public sealed class LengthFieldPrepender : IMessageWriter<ReadOnlySequence<byte>>
{
    private readonly long _maxFieldValue;

    /// <summary>Creates a length-field prepender.</summary>
    /// <param name="lengthFieldLength">The length field's size: 1, 2, 3, 4 or 8 bytes.</param>
    /// <param name="lengthAdjustment">Added to the payload length to give the field's value.</param>
    /// <param name="lengthIncludesLengthFieldLength">Whether the field's value also counts the field itself.</param>
    /// <param name="byteOrder">The byte order of the length field.</param>
    public LengthFieldPrepender(
        int lengthFieldLength = 4,
        int lengthAdjustment = 0,
        bool lengthIncludesLengthFieldLength = false,
        ByteOrder byteOrder = ByteOrder.BigEndian)
    {
        LengthFieldValidation.ThrowIfUnsupportedLength(lengthFieldLength);
        if (byteOrder is not (ByteOrder.BigEndian or ByteOrder.LittleEndian))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(byteOrder), byteOrder, "Unknown byte order.");
        }

        LengthFieldLength = lengthFieldLength;
        LengthAdjustment = lengthAdjustment;
        LengthIncludesLengthFieldLength = lengthIncludesLengthFieldLength;
        ByteOrder = byteOrder;
        _maxFieldValue = lengthFieldLength switch
        {
            1 => byte.MaxValue,
            2 => ushort.MaxValue,
            3 => 0xFF_FFFF,
            4 => uint.MaxValue,
            _ => long.MaxValue,
        };
    }

    /// <summary>The length field's size in bytes.</summary>
    public int LengthFieldLength { get; }

    /// <summary>Added to the payload length to give the field's value.</summary>
    public int LengthAdjustment { get; }

    /// <summary>Whether the field's value also counts the field itself.</summary>
    public bool LengthIncludesLengthFieldLength { get; }

    /// <summary>The byte order of the length field.</summary>
    public ByteOrder ByteOrder { get; }

    /// <inheritdoc />
    public void WriteMessage(ReadOnlySequence<byte> message, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var value = message.Length + LengthAdjustment;
        if (LengthIncludesLengthFieldLength)
        {
            value += LengthFieldLength;
        }

        if (value < 0)
        {
            ThrowHelper.ThrowArgumentException($"The adjusted length ({value}) is less than zero.", nameof(message));
        }

        if (value > _maxFieldValue)
        {
            ThrowHelper.ThrowArgumentException($"The length {value} does not fit in a {LengthFieldLength}-byte length field.", nameof(message));
        }

        // One span for header and payload when the payload is small, so a typical frame is one GetSpan/Advance pair.
        // The hint stays within one pool block (4 KiB in Kestrel's pool); larger payloads are copied in chunks.
        var headerLength = LengthFieldLength;
        var span = output.GetSpan((int)Math.Min(headerLength + message.Length, 4096));
        WriteField(span, value);
        if (message.IsSingleSegment && message.FirstSpan.Length <= span.Length - headerLength)
        {
            message.FirstSpan.CopyTo(span[headerLength..]);
            output.Advance(headerLength + message.FirstSpan.Length);
            return;
        }

        output.Advance(headerLength);
        PayloadCopy.Write(message, output);
    }

    private void WriteField(Span<byte> span, long value)
    {
        var bigEndian = ByteOrder == ByteOrder.BigEndian;
        switch (LengthFieldLength)
        {
            case 1:
                span[0] = (byte)value;
                break;
            case 2:
                if (bigEndian)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)value);
                }
                else
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)value);
                }

                break;
            case 3:
                if (bigEndian)
                {
                    span[0] = (byte)(value >> 16);
                    span[1] = (byte)(value >> 8);
                    span[2] = (byte)value;
                }
                else
                {
                    span[0] = (byte)value;
                    span[1] = (byte)(value >> 8);
                    span[2] = (byte)(value >> 16);
                }

                break;
            case 4:
                if (bigEndian)
                {
                    BinaryPrimitives.WriteUInt32BigEndian(span, (uint)value);
                }
                else
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)value);
                }

                break;
            default:
                if (bigEndian)
                {
                    BinaryPrimitives.WriteInt64BigEndian(span, value);
                }
                else
                {
                    BinaryPrimitives.WriteInt64LittleEndian(span, value);
                }

                break;
        }
    }
}
