using System.Buffers;
using PipelineServer.Protocols.Internal;

namespace PipelineServer.Protocols.Framing;

/// <summary>
/// Splits a stream into frames prefixed with their length as a base-128 varint, as in protobuf's length-delimited
/// streams (<c>writeDelimitedTo</c>). Frames are the payloads, without the prefix, as slices of the input.
/// </summary>
/// <remarks>
/// The prefix is an unsigned 32-bit varint: at most 5 bytes, least significant group first. A prefix that runs past
/// 5 bytes, or whose value does not fit in 32 bits, is <see cref="ProtocolErrorKind.Malformed"/>. Non-minimal encodings
/// (such as <c>80 00</c> for zero) are accepted, as protobuf accepts them. <see cref="MaxFrameLength"/> bounds the
/// whole frame on the wire (prefix plus payload) and is checked as soon as the prefix has been read.
/// </remarks>
public sealed class VarintFrameReader : IMessageReader<ReadOnlySequence<byte>>
{
    /// <summary>The longest prefix accepted: 5 bytes carry 35 bits, enough for any 32-bit length.</summary>
    public const int MaxPrefixLength = 5;

    /// <summary>Creates a varint-prefixed frame reader.</summary>
    /// <param name="maxFrameLength">The most bytes one frame may occupy, prefix included.</param>
    public VarintFrameReader(int maxFrameLength = ProtocolDefaults.MaxMessageSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrameLength);
        MaxFrameLength = maxFrameLength;
    }

    /// <summary>The most bytes one frame may occupy, prefix included.</summary>
    public int MaxFrameLength { get; }

    /// <inheritdoc />
    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out ReadOnlySequence<byte> message)
    {
        Span<byte> gathered = stackalloc byte[MaxPrefixLength];
        scoped ReadOnlySpan<byte> prefix = input.FirstSpan;
        if (prefix.Length < MaxPrefixLength && !input.IsSingleSegment)
        {
            // The prefix may straddle segments: gather up to 5 bytes on the stack.
            var count = (int)Math.Min(input.Length, MaxPrefixLength);
            input.Slice(0, count).CopyTo(gathered);
            prefix = gathered[..count];
        }

        if (!TryDecode(prefix, out var length, out var prefixLength))
        {
            message = default;
            return false;
        }

        var frameLength = (long)prefixLength + length;
        if (frameLength > MaxFrameLength)
        {
            ThrowHelper.ThrowFrameTooLarge(frameLength, MaxFrameLength);
        }

        if (input.Length < frameLength)
        {
            message = default;
            return false;
        }

        message = input.Slice(prefixLength, length);
        consumed = message.End;
        examined = message.End;
        return true;
    }

    // Returns false when the prefix is not complete yet.
    private static bool TryDecode(ReadOnlySpan<byte> bytes, out uint value, out int prefixLength)
    {
        uint result = 0;
        var limit = Math.Min(bytes.Length, MaxPrefixLength);
        for (var i = 0; i < limit; i++)
        {
            uint b = bytes[i];
            if (i == MaxPrefixLength - 1 && b > 0x0F)
            {
                // The fifth byte carries bits 28..34; anything above bit 31, or a continuation bit, is invalid.
                ThrowHelper.ThrowProtocolException(
                    ProtocolErrorKind.Malformed,
                    (b & 0x80) != 0
                        ? $"The varint length prefix is longer than {MaxPrefixLength} bytes."
                        : "The varint length prefix does not fit in 32 bits.");
            }

            result |= (b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                value = result;
                prefixLength = i + 1;
                return true;
            }
        }

        value = 0;
        prefixLength = 0;
        return false;
    }
}
