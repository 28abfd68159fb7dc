using System.Buffers;
using System.Buffers.Text;
using PipelineServer.Protocols;

namespace PipelineServer.Resp.Internal;

// Validates and skips RESP values over a SequenceReader. Nothing is allocated and nothing reserved from announced
// lengths or counts: a count is only a loop bound, so "*1000000\r\n" with no data behind it costs nothing but the wait.
// Returns false when the value is not complete yet (the reader's position is then meaningless); throws
// ProtocolException for input that can never become valid.
internal static class RespParser
{
    // Lengths and counts are at most 20 characters ("-9223372036854775808").
    private const int MaxNumberLine = 20;

    // No stream can deliver more elements than this; the bound keeps the arithmetic below far from overflow.
    private const long MaxAggregateCount = 1L << 60;

    // The resumable parse's Progress: the depth in the low bits, then a flag and the top-level type.
    private const long DepthMask = 0xFFFF_FFFF;
    private const long AfterAttributeFlag = 1L << 32;
    private const int TopTypeShift = 40;

    // A frame of the resumable parse's stack: the elements an open aggregate still holds, with this bit set for an attribute.
    private const long AttributeFrame = 1L << 62;

    public static bool TrySkipValue(ref SequenceReader<byte> reader, RespLimits limits, int depth, out RespType type)
    {
        if (!TryReadToken(ref reader, limits, depth, out type, out var elements))
        {
            return false;
        }

        for (long i = 0; i < elements; i++)
        {
            if (!TrySkipValue(ref reader, limits, depth + 1, out _))
            {
                return false;
            }
        }

        if (type == RespType.Attribute)
        {
            // An attribute describes the value that follows it; the two are one reply. That value may not be another
            // attribute: a chain of them would recurse once per link at the same depth, so MaxDepth would not stop a
            // few kilobytes of "|0\r\n" from overflowing the stack.
            if (reader.TryPeek(out var next) && next == (byte)RespType.Attribute)
            {
                throw AttributeOfAttribute();
            }

            return TrySkipValue(ref reader, limits, depth, out type);
        }

        return true;
    }

    // The same as TrySkipValue, resumable: for a value that has not all arrived, `state` keeps where the next element
    // starts (Offset), how deeply it is nested with two flags (Progress) and how many elements each open aggregate
    // still holds (Scratch, a long[] allocated once per stream), so the next call reads only what it has not read.
    // On success `end` is the value's end; the caller resets the state.
    public static bool TrySkipValue(in ReadOnlySequence<byte> input, ref MessageReaderState state, RespLimits limits, out RespType type, out SequencePosition end)
    {
        var progress = state.Progress;
        var depth = (int)(progress & DepthMask);
        var afterAttribute = (progress & AfterAttributeFlag) != 0;
        var top = (RespType)(byte)(progress >> TopTypeShift);
        var frames = state.Scratch as long[];
        var start = state.Offset;
        var reader = new SequenceReader<byte>(state.SliceFromOffset(input));
        while (true)
        {
            var token = reader;
            if (afterAttribute && reader.TryPeek(out var next) && next == (byte)RespType.Attribute)
            {
                throw AttributeOfAttribute();
            }

            if (!TryReadToken(ref reader, limits, depth, out var tokenType, out var elements))
            {
                state.SetOffset(start + token.Consumed, token.Position);
                state.Progress = (uint)depth | (afterAttribute ? AfterAttributeFlag : 0) | ((long)(byte)top << TopTypeShift);
                type = RespType.None;
                end = default;
                return false;
            }

            afterAttribute = false;
            if (depth == 0 && tokenType != RespType.Attribute)
            {
                top = tokenType;
            }

            if (elements > 0)
            {
                // Checked against MaxDepth by TryReadToken, so the stack never outgrows it.
                if (frames is null || frames.Length <= depth)
                {
                    Array.Resize(ref frames, Math.Min(Math.Max(8, depth * 2), limits.MaxDepth));
                    state.Scratch = frames;
                }

                frames[depth++] = elements | (tokenType == RespType.Attribute ? AttributeFrame : 0);
                continue;
            }

            if (tokenType == RespType.Attribute)
            {
                // "|0": no elements, the value it describes follows at this depth.
                afterAttribute = true;
                continue;
            }

            // A whole value: it completes an element of each aggregate it is the last element of.
            while (true)
            {
                if (depth == 0)
                {
                    type = top;
                    end = reader.Position;
                    return true;
                }

                ref var frame = ref frames![depth - 1];
                if ((--frame & ~AttributeFrame) > 0)
                {
                    break;
                }

                depth--;
                if ((frame & AttributeFrame) != 0)
                {
                    // An attribute's elements are done; the value it describes follows at its depth.
                    afterAttribute = true;
                    break;
                }
            }
        }
    }

    // One token: a whole scalar, bulk or null value (elements 0), or an aggregate's header (elements: the values it
    // holds, twice the count for a map or an attribute). Checks the aggregate against MaxDepth at `depth`.
    private static bool TryReadToken(ref SequenceReader<byte> reader, RespLimits limits, int depth, out RespType type, out long elements)
    {
        elements = 0;
        type = RespType.None;
        if (!reader.TryRead(out var prefix))
        {
            return false;
        }

        type = (RespType)prefix;
        switch (type)
        {
            case RespType.SimpleString:
            case RespType.SimpleError:
                return TryReadLine(ref reader, limits.MaxLineLength, out _);

            case RespType.Integer:
            {
                if (!TryReadLine(ref reader, MaxNumberLine, out var line))
                {
                    return false;
                }

                ParseInteger(line, "integer");
                return true;
            }

            case RespType.BigNumber:
            {
                if (!TryReadLine(ref reader, limits.MaxLineLength, out var line))
                {
                    return false;
                }

                ValidateBigNumber(line);
                return true;
            }

            case RespType.Double:
            {
                if (!TryReadLine(ref reader, limits.MaxLineLength, out var line))
                {
                    return false;
                }

                ParseDouble(line);
                return true;
            }

            case RespType.Boolean:
            {
                if (!TryReadLine(ref reader, 1, out var line))
                {
                    return false;
                }

                if (line.Length != 1 || (line.FirstSpan[0] != (byte)'t' && line.FirstSpan[0] != (byte)'f'))
                {
                    throw Malformed("a boolean must be #t or #f");
                }

                return true;
            }

            case RespType.Null:
            {
                if (!TryReadLine(ref reader, 0, out var line))
                {
                    return false;
                }

                return line.IsEmpty ? true : throw Malformed("a null must be _\\r\\n");
            }

            case RespType.BulkString:
            case RespType.BulkError:
            case RespType.VerbatimString:
                return TrySkipBulk(ref reader, limits, type);

            case RespType.Array:
            case RespType.Set:
            case RespType.Push:
            case RespType.Map:
            case RespType.Attribute:
                return TryReadAggregateHeader(ref reader, limits, depth, type, out elements);

            default:
                throw Malformed($"unknown type byte {DescribeByte(prefix)}");
        }
    }

    // After the type byte: the length line, the bytes, CRLF.
    private static bool TrySkipBulk(ref SequenceReader<byte> reader, RespLimits limits, RespType type)
    {
        if (!TryReadLine(ref reader, MaxNumberLine, out var line))
        {
            return false;
        }

        var length = ParseInteger(line, "length");
        if (length == -1 && type == RespType.BulkString)
        {
            return true; // RESP2 null bulk string
        }

        if (length < 0)
        {
            throw Malformed($"invalid bulk length {length}");
        }

        if (length > limits.MaxBulkLength)
        {
            throw new ProtocolException(ProtocolErrorKind.MessageTooLarge, $"bulk length {length} exceeds the limit of {limits.MaxBulkLength} bytes");
        }

        if (reader.Remaining < length + 2)
        {
            return false;
        }

        if (type == RespType.VerbatimString)
        {
            Span<byte> head = stackalloc byte[4];
            if (length < 4 || !reader.TryCopyTo(head) || head[3] != (byte)':')
            {
                throw Malformed("a verbatim string must start with a three-letter format and a colon");
            }
        }

        reader.Advance(length);
        return ExpectCrLf(ref reader, "after bulk data");
    }

    private static bool TryReadAggregateHeader(ref SequenceReader<byte> reader, RespLimits limits, int depth, RespType type, out long elements)
    {
        elements = 0;
        if (!TryReadLine(ref reader, MaxNumberLine, out var line))
        {
            return false;
        }

        var count = ParseInteger(line, "count");
        if (count == -1 && type == RespType.Array)
        {
            return true; // RESP2 null array
        }

        if (count < 0)
        {
            throw Malformed($"invalid aggregate count {count}");
        }

        // The second bound keeps twice the count, and a resumable parse's flag bit, clear of overflow whatever the limit.
        if (count > limits.MaxAggregateLength || count > MaxAggregateCount)
        {
            throw new ProtocolException(ProtocolErrorKind.MessageTooLarge, $"aggregate of {count} elements exceeds the limit of {Math.Min(limits.MaxAggregateLength, MaxAggregateCount)}");
        }

        if (depth + 1 > limits.MaxDepth)
        {
            throw Malformed($"nesting deeper than {limits.MaxDepth} levels");
        }

        elements = type is RespType.Map or RespType.Attribute ? count * 2 : count;
        return true;
    }

    // A line up to CRLF, at most maxLength bytes, with no CR or LF inside.
    public static bool TryReadLine(ref SequenceReader<byte> reader, int maxLength, out ReadOnlySequence<byte> line)
    {
        if (!reader.TryReadTo(out line, (byte)'\r', advancePastDelimiter: true))
        {
            if (reader.Remaining > maxLength + 1)
            {
                throw TooLongLine(maxLength);
            }

            if (reader.UnreadSequence.PositionOf((byte)'\n') is not null)
            {
                throw Malformed("a line feed without a carriage return");
            }

            line = default;
            return false;
        }

        if (line.Length > maxLength)
        {
            throw TooLongLine(maxLength);
        }

        if (line.PositionOf((byte)'\n') is not null)
        {
            throw Malformed("a line feed without a carriage return");
        }

        if (!reader.TryRead(out var lf))
        {
            return false;
        }

        return lf == (byte)'\n' ? true : throw Malformed("a carriage return not followed by a line feed");
    }

    public static long ParseInteger(in ReadOnlySequence<byte> line, string what)
    {
        Span<byte> buffer = stackalloc byte[MaxNumberLine];
        var span = line.IsSingleSegment ? line.FirstSpan : CopyTo(line, buffer);
        if (span.IsEmpty || span.Length > MaxNumberLine || !Utf8Parser.TryParse(span, out long value, out var used) || used != span.Length
            || (span[0] == (byte)'+'))
        {
            throw Malformed($"invalid {what} '{Describe(span)}'");
        }

        return value;
    }

    public static double ParseDouble(in ReadOnlySequence<byte> line)
    {
        Span<byte> buffer = stackalloc byte[64];
        if (line.Length > buffer.Length)
        {
            throw Malformed("a double longer than 64 characters");
        }

        var span = line.IsSingleSegment ? line.FirstSpan : CopyTo(line, buffer);
        if (span.SequenceEqual("inf"u8))
        {
            return double.PositiveInfinity;
        }

        if (span.SequenceEqual("-inf"u8))
        {
            return double.NegativeInfinity;
        }

        if (span.SequenceEqual("nan"u8))
        {
            return double.NaN;
        }

        if (span.IsEmpty || !Utf8Parser.TryParse(span, out double value, out var used) || used != span.Length)
        {
            throw Malformed($"invalid double '{Describe(span)}'");
        }

        return value;
    }

    private static void ValidateBigNumber(in ReadOnlySequence<byte> line)
    {
        var first = true;
        var digits = 0;
        foreach (var segment in line)
        {
            foreach (var b in segment.Span)
            {
                if (first && (b == (byte)'-' || b == (byte)'+'))
                {
                    first = false;
                    continue;
                }

                first = false;
                if ((uint)(b - '0') > 9)
                {
                    throw Malformed("a big number must be digits with an optional sign");
                }

                digits++;
            }
        }

        if (digits == 0)
        {
            throw Malformed("a big number must have digits");
        }
    }

    public static bool ExpectCrLf(ref SequenceReader<byte> reader, string where)
    {
        if (reader.Remaining < 2)
        {
            return false;
        }

        reader.TryRead(out var cr);
        reader.TryRead(out var lf);
        return cr == (byte)'\r' && lf == (byte)'\n' ? true : throw Malformed($"missing CRLF {where}");
    }

    public static ProtocolException AttributeOfAttribute() => Malformed("an attribute must describe a value, not another attribute");

    public static ProtocolException Malformed(string reason) => new(ProtocolErrorKind.Malformed, "RESP protocol error: " + reason);

    private static ProtocolException TooLongLine(int maxLength) =>
        new(ProtocolErrorKind.MessageTooLarge, $"RESP protocol error: a line longer than {maxLength} bytes");

    private static ReadOnlySpan<byte> CopyTo(in ReadOnlySequence<byte> line, Span<byte> buffer)
    {
        var length = (int)Math.Min(line.Length, buffer.Length);
        line.Slice(0, length).CopyTo(buffer);
        return buffer[..length];
    }

    private static string Describe(ReadOnlySpan<byte> span)
    {
        var chars = new char[Math.Min(span.Length, 32)];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = span[i] is >= 0x20 and < 0x7F ? (char)span[i] : '?';
        }

        return new string(chars);
    }

    public static string DescribeByte(byte b) => b is >= 0x20 and < 0x7F ? $"'{(char)b}'" : $"0x{b:X2}";
}
