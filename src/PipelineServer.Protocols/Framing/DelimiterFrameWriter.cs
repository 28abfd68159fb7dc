using System.Buffers;
using PipelineServer.Protocols.Internal;

namespace PipelineServer.Protocols.Framing;

/// <summary>
/// Writes a payload followed by a delimiter: the writer that matches <see cref="DelimiterFrameReader"/>.
/// </summary>
/// <remarks>
/// The payload must not contain the delimiter (or any other delimiter the reading side accepts); the writer does not
/// scan for it, as the protocol usually rules it out already (for example, line protocols escape or forbid newlines).
/// </remarks>
public sealed class DelimiterFrameWriter : IMessageWriter<ReadOnlySequence<byte>>
{
    private readonly byte[] _delimiter;

    /// <summary>Creates a delimiter frame writer.</summary>
    /// <param name="delimiter">The delimiter written after each payload; not empty.</param>
    public DelimiterFrameWriter(ReadOnlySpan<byte> delimiter)
    {
        if (delimiter.IsEmpty)
        {
            ThrowHelper.ThrowArgumentException("The delimiter must not be empty.", nameof(delimiter));
        }

        _delimiter = delimiter.ToArray();
    }

    /// <summary>The delimiter written after each payload.</summary>
    public ReadOnlyMemory<byte> Delimiter => _delimiter;

    /// <inheritdoc />
    public void WriteMessage(ReadOnlySequence<byte> message, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var total = message.Length + _delimiter.Length;
        if (message.IsSingleSegment && total <= 4096)
        {
            var span = output.GetSpan((int)total);
            message.FirstSpan.CopyTo(span);
            _delimiter.CopyTo(span[message.FirstSpan.Length..]);
            output.Advance((int)total);
            return;
        }

        PayloadCopy.Write(message, output);
        output.Write(_delimiter);
    }
}
