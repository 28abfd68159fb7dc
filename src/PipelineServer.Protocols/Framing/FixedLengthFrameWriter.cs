using System.Buffers;
using PipelineServer.Protocols.Internal;

namespace PipelineServer.Protocols.Framing;

/// <summary>
/// Writes frames of a fixed number of bytes: the writer that matches <see cref="FixedLengthFrameReader"/>.
/// A payload of any other length is refused with <see cref="ArgumentException"/> before anything is written.
/// </summary>
public sealed class FixedLengthFrameWriter : IMessageWriter<ReadOnlySequence<byte>>
{
    /// <summary>Creates a fixed-length frame writer.</summary>
    /// <param name="frameLength">The size of every frame, in bytes; at least 1.</param>
    public FixedLengthFrameWriter(int frameLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameLength);
        FrameLength = frameLength;
    }

    /// <summary>The size of every frame, in bytes.</summary>
    public int FrameLength { get; }

    /// <inheritdoc />
    public void WriteMessage(ReadOnlySequence<byte> message, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (message.Length != FrameLength)
        {
            ThrowHelper.ThrowArgumentException($"The payload is {message.Length} bytes; frames are exactly {FrameLength} bytes.", nameof(message));
        }

        PayloadCopy.Write(message, output);
    }
}
