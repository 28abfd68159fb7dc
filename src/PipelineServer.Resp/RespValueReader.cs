using System.Buffers;
using PipelineServer.Protocols;
using PipelineServer.Resp.Internal;

namespace PipelineServer.Resp;

/// <summary>
/// Reads whole RESP2/RESP3 values of any type (a client's view of replies and pushes), validated against
/// <see cref="RespLimits"/>, as zero-copy <see cref="RespValue"/>s over the pipe's buffer.
/// </summary>
/// <param name="limits">The limits; <see cref="RespLimits.Default"/> when <see langword="null"/>.</param>
public sealed class RespValueReader(RespLimits? limits = null) : IMessageReader<RespValue>
{
    private readonly RespLimits _limits = limits ?? RespLimits.Default;

    /// <inheritdoc />
    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out RespValue message)
    {
        if (TryParseFast(input, ref consumed, ref examined, out message))
        {
            return true;
        }

        var reader = new SequenceReader<byte>(input);
        if (!RespParser.TrySkipValue(ref reader, _limits, 0, out var type))
        {
            message = default;
            return false;
        }

        message = new RespValue(type, input.Slice(0, reader.Position));
        consumed = reader.Position;
        examined = consumed;
        return true;
    }

    /// <inheritdoc />
    /// <remarks>
    /// For an incomplete value <paramref name="state"/> holds where the next unread element starts and how many elements
    /// each open aggregate still holds, so a large reply received in many reads is walked once in all, not once per read.
    /// </remarks>
    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref MessageReaderState state, ref SequencePosition consumed, ref SequencePosition examined, out RespValue message)
    {
        // The fast path walks the first segment from the start, so it runs for a new value only.
        if (state.Offset == 0 && TryParseFast(input, ref consumed, ref examined, out message))
        {
            return true;
        }

        if (!RespParser.TrySkipValue(input, ref state, _limits, out var type, out var end))
        {
            message = default;
            return false;
        }

        message = new RespValue(type, input.Slice(input.Start, end));
        consumed = end;
        examined = consumed;
        return true;
    }

    // The whole value lies in the first segment and is of a type the span parser knows.
    private bool TryParseFast(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out RespValue message)
    {
        var position = 0;
        if (RespSpanParser.TrySkipValue(input.FirstSpan, ref position, _limits, 0, out var type))
        {
            consumed = input.GetPosition(position);
            examined = consumed;
            message = new RespValue(type, input.Slice(0, consumed));
            return true;
        }

        message = default;
        return false;
    }
}
