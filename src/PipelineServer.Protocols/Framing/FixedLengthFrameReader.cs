using System.Buffers;

namespace PipelineServer.Protocols.Framing;

/// <summary>
/// Splits a stream into frames of a fixed number of bytes. Frames are slices of the input: nothing is copied.
/// </summary>
public sealed class FixedLengthFrameReader : IMessageReader<ReadOnlySequence<byte>>
{
    /// <summary>Creates a fixed-length frame reader.</summary>
    /// <param name="frameLength">The size of every frame, in bytes; at least 1.</param>
    public FixedLengthFrameReader(int frameLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameLength);
        FrameLength = frameLength;
    }

    /// <summary>The size of every frame, in bytes.</summary>
    public int FrameLength { get; }

    /// <inheritdoc />
    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out ReadOnlySequence<byte> message)
    {
        if (input.Length < FrameLength)
        {
            message = default;
            return false;
        }

        message = input.Slice(0, FrameLength);
        consumed = message.End;
        examined = message.End;
        return true;
    }
}
