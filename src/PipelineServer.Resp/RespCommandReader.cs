using System.Buffers;
using PipelineServer.Protocols;
using PipelineServer.Resp.Internal;

namespace PipelineServer.Resp;

/// <summary>
/// Reads commands from clients the way Redis does: an array of bulk strings, or an inline command (a line that does
/// not start with <c>*</c>, split on spaces). Anything else is a protocol error (Redis's wording: "expected '$', got
/// 'x'"), checked from headers before data is buffered: a huge announced count or length reserves nothing.
/// </summary>
/// <param name="limits">The limits; <see cref="RespLimits.Default"/> when <see langword="null"/>.</param>
public sealed class RespCommandReader(RespLimits? limits = null) : IMessageReader<RespCommand>
{
    private readonly RespLimits _limits = limits ?? RespLimits.Default;

    /// <summary>The limits in force.</summary>
    public RespLimits Limits => _limits;

    /// <inheritdoc />
    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out RespCommand message)
    {
        var state = default(MessageReaderState);
        return TryParseMessage(input, ref state, ref consumed, ref examined, out message);
    }

    /// <inheritdoc />
    /// <remarks>
    /// For an incomplete command <paramref name="state"/> holds where the next unread argument starts and how many lie
    /// before it (or, inline, how far the line has been searched for its end), so a command trickled in many reads is
    /// walked once in all, not once per read.
    /// </remarks>
    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref MessageReaderState state, ref SequencePosition consumed, ref SequencePosition examined, out RespCommand message)
    {
        message = default;
        var reader = new SequenceReader<byte>(input);
        if (!reader.TryPeek(out var first))
        {
            return false;
        }

        if (first != (byte)'*')
        {
            return TryParseInline(input, ref state, ref consumed, ref examined, out message);
        }

        // The fast path walks the first segment from the start, so it runs for a new command only.
        if (state.Offset == 0 && TryParseArrayFast(input, ref consumed, ref examined, out message))
        {
            return true;
        }

        return TryParseArray(ref reader, input, ref state, ref consumed, ref examined, out message);
    }

    // The common case: the whole command lies in the first segment. Parses it with span operations and keeps the first
    // three arguments' positions. Returns false (the sequence parser then decides) when the command continues past the
    // first segment or anything looks wrong.
    private bool TryParseArrayFast(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out RespCommand message)
    {
        message = default;
        var span = input.FirstSpan;
        var position = 1;
        if (!RespSpanParser.TryNumberLine(span, ref position, "multibulk length", out var count) || count > _limits.MaxAggregateLength || count > int.MaxValue)
        {
            return false;
        }

        var body = position;
        Span<int> starts = stackalloc int[3];
        Span<int> lengths = stackalloc int[3];
        for (var i = 0; i < count; i++)
        {
            if (position >= span.Length || span[position] != (byte)'$')
            {
                return false;
            }

            position++;
            if (!RespSpanParser.TryNumberLine(span, ref position, "bulk length", out var length) || length < 0 || length > _limits.MaxBulkLength
                || span.Length - position < length + 2)
            {
                return false;
            }

            if (i < 3)
            {
                starts[i] = position;
                lengths[i] = (int)length;
            }

            position += (int)length;
            if (span[position] != (byte)'\r' || span[position + 1] != (byte)'\n')
            {
                return false;
            }

            position += 2;
        }

        var cached = (int)Math.Min(count < 0 ? 0 : count, 3);
        message = new RespCommand(
            input.Slice(body, position - body),
            count > 0 ? (int)count : 0,
            cached,
            cached > 0 ? input.Slice(starts[0], lengths[0]) : default,
            cached > 1 ? input.Slice(starts[1], lengths[1]) : default,
            cached > 2 ? input.Slice(starts[2], lengths[2]) : default);
        consumed = input.GetPosition(position);
        examined = consumed;
        return true;
    }

    private bool TryParseArray(ref SequenceReader<byte> reader, in ReadOnlySequence<byte> input, ref MessageReaderState state, ref SequencePosition consumed, ref SequencePosition examined, out RespCommand message)
    {
        message = default;
        reader.Advance(1);
        if (!RespParser.TryReadLine(ref reader, 20, out var line))
        {
            return false;
        }

        var count = RespParser.ParseInteger(line, "multibulk length");
        if (count > _limits.MaxAggregateLength || count > int.MaxValue)
        {
            throw new ProtocolException(ProtocolErrorKind.MessageTooLarge, $"RESP protocol error: invalid multibulk length {count}");
        }

        var body = reader.Position;

        // Resume at the first argument not yet read; the header above is re-read each time (at most 22 bytes).
        long start = 0;
        long i = 0;
        if (state.Offset != 0)
        {
            start = state.Offset;
            i = state.Progress;
            reader = new SequenceReader<byte>(state.SliceFromOffset(input));
        }

        for (; i < count; i++)
        {
            var argument = reader;
            if (!TrySkipArgument(ref reader))
            {
                state.SetOffset(start + argument.Consumed, argument.Position);
                state.Progress = i;
                return false;
            }
        }

        // "*0" and "*-1" are empty commands, which servers skip.
        message = new RespCommand(input.Slice(body, reader.Position), count > 0 ? (int)count : 0, inline: false);
        consumed = reader.Position;
        examined = consumed;
        return true;
    }

    // One "$<length>\r\n<bytes>\r\n"; false when it has not all arrived.
    private bool TrySkipArgument(ref SequenceReader<byte> reader)
    {
        if (!reader.TryPeek(out var type))
        {
            return false;
        }

        if (type != (byte)'$')
        {
            throw RespParser.Malformed($"expected '$', got {RespParser.DescribeByte(type)}");
        }

        reader.Advance(1);
        if (!RespParser.TryReadLine(ref reader, 20, out var header))
        {
            return false;
        }

        var length = RespParser.ParseInteger(header, "bulk length");
        if (length < 0)
        {
            throw RespParser.Malformed("invalid bulk length");
        }

        if (length > _limits.MaxBulkLength)
        {
            throw new ProtocolException(ProtocolErrorKind.MessageTooLarge, $"RESP protocol error: bulk length {length} exceeds the limit of {_limits.MaxBulkLength} bytes");
        }

        if (reader.Remaining < length + 2)
        {
            return false;
        }

        reader.Advance(length);
        return RespParser.ExpectCrLf(ref reader, "after bulk data");
    }

    private bool TryParseInline(in ReadOnlySequence<byte> input, ref MessageReaderState state, ref SequencePosition consumed, ref SequencePosition examined, out RespCommand message)
    {
        message = default;

        // The search for the line feed resumes where the last one ended: state.Offset bytes are known to hold none.
        var rest = state.SliceFromOffset(input);
        var end = rest.PositionOf((byte)'\n');
        if (end is not { } lf)
        {
            if (input.Length > _limits.MaxInlineLength)
            {
                throw new ProtocolException(ProtocolErrorKind.MessageTooLarge, "RESP protocol error: too big inline request");
            }

            state.SetOffset(input.Length, input.End);
            return false;
        }

        var line = input.Slice(input.Start, lf);
        if (line.Length > _limits.MaxInlineLength)
        {
            throw new ProtocolException(ProtocolErrorKind.MessageTooLarge, "RESP protocol error: too big inline request");
        }

        // A CR before the LF is part of the line ending (telnet sends CRLF, netcat may send LF alone).
        if (!line.IsEmpty && line.Slice(line.Length - 1).FirstSpan[0] == (byte)'\r')
        {
            line = line.Slice(0, line.Length - 1);
        }

        message = new RespCommand(line, CountWords(line), inline: true);
        consumed = input.GetPosition(1, lf);
        examined = consumed;
        return true;
    }

    private static int CountWords(in ReadOnlySequence<byte> line)
    {
        var words = 0;
        var inWord = false;
        foreach (var segment in line)
        {
            foreach (var b in segment.Span)
            {
                var space = b is (byte)' ' or (byte)'\t';
                if (!space && !inWord)
                {
                    words++;
                }

                inWord = !space;
            }
        }

        return words;
    }
}
