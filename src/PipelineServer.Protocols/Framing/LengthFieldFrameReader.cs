using System.Buffers;
using System.Buffers.Binary;
using PipelineServer.Protocols.Internal;

namespace PipelineServer.Protocols.Framing;

/// <summary>
/// Splits a stream into frames by a length field in each frame's header, with the parameters and semantics of Netty's
/// <c>LengthFieldBasedFrameDecoder</c>. Frames are slices of the input: nothing is copied.
/// </summary>
/// <remarks>
/// <para>
/// The length field is <see cref="LengthFieldLength"/> bytes (1, 2, 3, 4 or 8) at <see cref="LengthFieldOffset"/>.
/// Fields of 1 to 4 bytes are unsigned; an 8-byte field is a signed 64-bit value. The whole frame on the wire is
/// <c>field value + LengthAdjustment + LengthFieldOffset + LengthFieldLength</c> bytes; the frame returned is that,
/// minus its first <see cref="InitialBytesToStrip"/> bytes.
/// </para>
/// <para>
/// The whole frame length is checked against <see cref="MaxFrameLength"/> as soon as the header has been read, before
/// any of the body is buffered. A negative field, a frame shorter than its own header, or more bytes to strip than the
/// frame holds are <see cref="ProtocolErrorKind.Malformed"/>; an oversize frame is
/// <see cref="ProtocolErrorKind.MessageTooLarge"/>. Either way the reader throws <see cref="ProtocolException"/> and
/// the connection is expected to close: the reader keeps no state, so it does not offer Netty's discard-and-resync mode.
/// </para>
/// </remarks>
public sealed class LengthFieldFrameReader : IMessageReader<ReadOnlySequence<byte>>
{
    private readonly int _lengthFieldEndOffset;
    private readonly long _maxFieldValue;

    /// <summary>Creates a length-field frame reader.</summary>
    /// <param name="maxFrameLength">The largest whole frame, header included, in bytes.</param>
    /// <param name="lengthFieldOffset">Where the length field starts in the frame.</param>
    /// <param name="lengthFieldLength">The length field's size: 1, 2, 3, 4 or 8 bytes.</param>
    /// <param name="lengthAdjustment">Added to the field's value to give the number of bytes after the length field.</param>
    /// <param name="initialBytesToStrip">How many bytes to drop from the front of each frame (for example the header).</param>
    /// <param name="byteOrder">The byte order of the length field.</param>
    public LengthFieldFrameReader(
        int maxFrameLength = ProtocolDefaults.MaxMessageSize,
        int lengthFieldOffset = 0,
        int lengthFieldLength = 4,
        int lengthAdjustment = 0,
        int initialBytesToStrip = 0,
        ByteOrder byteOrder = ByteOrder.BigEndian)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrameLength);
        ArgumentOutOfRangeException.ThrowIfNegative(lengthFieldOffset);
        ArgumentOutOfRangeException.ThrowIfNegative(initialBytesToStrip);
        LengthFieldValidation.ThrowIfUnsupportedLength(lengthFieldLength);
        if (byteOrder is not (ByteOrder.BigEndian or ByteOrder.LittleEndian))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(byteOrder), byteOrder, "Unknown byte order.");
        }

        if (lengthFieldOffset > maxFrameLength - lengthFieldLength)
        {
            ThrowHelper.ThrowArgumentOutOfRange(
                nameof(lengthFieldOffset),
                lengthFieldOffset,
                $"The length field (offset {lengthFieldOffset}, {lengthFieldLength} bytes) does not fit in a frame of at most {maxFrameLength} bytes.");
        }

        MaxFrameLength = maxFrameLength;
        LengthFieldOffset = lengthFieldOffset;
        LengthFieldLength = lengthFieldLength;
        LengthAdjustment = lengthAdjustment;
        InitialBytesToStrip = initialBytesToStrip;
        ByteOrder = byteOrder;
        _lengthFieldEndOffset = lengthFieldOffset + lengthFieldLength;
        // The largest field value whose whole frame stays within the limit; computed once so that the hot path
        // compares before it adds, and so can never overflow.
        _maxFieldValue = (long)maxFrameLength - lengthAdjustment - _lengthFieldEndOffset;
    }

    /// <summary>The largest whole frame, header included, in bytes.</summary>
    public int MaxFrameLength { get; }

    /// <summary>Where the length field starts in the frame.</summary>
    public int LengthFieldOffset { get; }

    /// <summary>The length field's size in bytes.</summary>
    public int LengthFieldLength { get; }

    /// <summary>Added to the field's value to give the number of bytes that follow the length field.</summary>
    public int LengthAdjustment { get; }

    /// <summary>How many bytes are dropped from the front of each frame.</summary>
    public int InitialBytesToStrip { get; }

    /// <summary>The byte order of the length field.</summary>
    public ByteOrder ByteOrder { get; }

    /// <inheritdoc />
    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out ReadOnlySequence<byte> message)
    {
        if (input.Length < _lengthFieldEndOffset)
        {
            message = default;
            return false;
        }

        var fieldValue = ReadLengthField(input);
        if (fieldValue < 0)
        {
            ThrowHelper.ThrowProtocolException(ProtocolErrorKind.Malformed, $"The length field holds a negative value ({fieldValue}).");
        }

        if (fieldValue > _maxFieldValue)
        {
            ThrowHelper.ThrowFrameTooLarge((Int128)fieldValue + LengthAdjustment + _lengthFieldEndOffset, MaxFrameLength);
        }

        var frameLength = fieldValue + LengthAdjustment + _lengthFieldEndOffset;
        if (frameLength < _lengthFieldEndOffset)
        {
            ThrowHelper.ThrowProtocolException(
                ProtocolErrorKind.Malformed,
                $"The adjusted frame length ({frameLength}) is less than the end of the length field ({_lengthFieldEndOffset}).");
        }

        if (InitialBytesToStrip > frameLength)
        {
            ThrowHelper.ThrowProtocolException(
                ProtocolErrorKind.Malformed,
                $"The frame length ({frameLength}) is less than the number of bytes to strip ({InitialBytesToStrip}).");
        }

        if (input.Length < frameLength)
        {
            message = default;
            return false;
        }

        // One slice; its end is the end of the whole frame, whatever was stripped from the front.
        message = input.Slice(InitialBytesToStrip, frameLength - InitialBytesToStrip);
        consumed = message.End;
        examined = message.End;
        return true;
    }

    private long ReadLengthField(in ReadOnlySequence<byte> input)
    {
        var first = input.FirstSpan;
        if (first.Length >= _lengthFieldEndOffset)
        {
            return Decode(first.Slice(LengthFieldOffset, LengthFieldLength));
        }

        // The header straddles segments: gather it on the stack.
        Span<byte> field = stackalloc byte[8];
        field = field[..LengthFieldLength];
        input.Slice(LengthFieldOffset, LengthFieldLength).CopyTo(field);
        return Decode(field);
    }

    private long Decode(ReadOnlySpan<byte> field)
    {
        var bigEndian = ByteOrder == ByteOrder.BigEndian;
        return field.Length switch
        {
            1 => field[0],
            2 => bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(field) : BinaryPrimitives.ReadUInt16LittleEndian(field),
            3 => bigEndian
                ? (field[0] << 16) | (field[1] << 8) | field[2]
                : (field[2] << 16) | (field[1] << 8) | field[0],
            4 => bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(field) : BinaryPrimitives.ReadUInt32LittleEndian(field),
            _ => bigEndian ? BinaryPrimitives.ReadInt64BigEndian(field) : BinaryPrimitives.ReadInt64LittleEndian(field),
        };
    }
}
