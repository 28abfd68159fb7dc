using System.Buffers.Text;
using PipelineServer.Protocols;

namespace PipelineServer.Resp.Internal;

// The fast path of RespParser for a value that lies in one contiguous span (the common case: a pipe segment of 16 KiB
// holds many small values). Same grammar and limits; returns false for "need more data", which makes callers fall back
// to the sequence parser when the span is only the first segment of more.
internal static class RespSpanParser
{
    public static bool TrySkipValue(ReadOnlySpan<byte> span, ref int position, RespLimits limits, int depth, out RespType type)
    {
        type = RespType.None;
        if (position >= span.Length)
        {
            return false;
        }

        type = (RespType)span[position++];
        switch (type)
        {
            case RespType.SimpleString:
            case RespType.SimpleError:
                return TryLine(span, ref position, limits.MaxLineLength, out _, out _);

            case RespType.Integer:
                return TryNumberLine(span, ref position, "integer", out _);

            case RespType.BulkString:
            case RespType.BulkError:
            case RespType.VerbatimString:
            {
                if (!TryNumberLine(span, ref position, "length", out var length))
                {
                    return false;
                }

                if (length == -1 && type == RespType.BulkString)
                {
                    return true;
                }

                if (length < 0)
                {
                    throw RespParser.Malformed($"invalid bulk length {length}");
                }

                if (length > limits.MaxBulkLength)
                {
                    throw new ProtocolException(ProtocolErrorKind.MessageTooLarge, $"bulk length {length} exceeds the limit of {limits.MaxBulkLength} bytes");
                }

                if (span.Length - position < length + 2)
                {
                    return false;
                }

                if (type == RespType.VerbatimString && (length < 4 || span[position + 3] != (byte)':'))
                {
                    throw RespParser.Malformed("a verbatim string must start with a three-letter format and a colon");
                }

                position += (int)length;
                if (span[position] != (byte)'\r' || span[position + 1] != (byte)'\n')
                {
                    throw RespParser.Malformed("missing CRLF after bulk data");
                }

                position += 2;
                return true;
            }

            case RespType.Array:
            case RespType.Set:
            case RespType.Push:
            case RespType.Map:
            case RespType.Attribute:
            {
                if (!TryNumberLine(span, ref position, "count", out var count))
                {
                    return false;
                }

                if (count == -1 && type == RespType.Array)
                {
                    return true;
                }

                if (count < 0)
                {
                    throw RespParser.Malformed($"invalid aggregate count {count}");
                }

                if (count > limits.MaxAggregateLength)
                {
                    throw new ProtocolException(ProtocolErrorKind.MessageTooLarge, $"aggregate of {count} elements exceeds the limit of {limits.MaxAggregateLength}");
                }

                if (depth + 1 > limits.MaxDepth)
                {
                    throw RespParser.Malformed($"nesting deeper than {limits.MaxDepth} levels");
                }

                var elements = type is RespType.Map or RespType.Attribute ? count * 2 : count;
                for (long i = 0; i < elements; i++)
                {
                    if (!TrySkipValue(span, ref position, limits, depth + 1, out _))
                    {
                        return false;
                    }
                }

                if (type != RespType.Attribute)
                {
                    return true;
                }

                // As in RespParser: an attribute must describe a value, or chains of them would recurse without limit.
                if (position < span.Length && span[position] == (byte)RespType.Attribute)
                {
                    throw RespParser.AttributeOfAttribute();
                }

                return TrySkipValue(span, ref position, limits, depth, out type);
            }

            default:
                // Rarer types (null, boolean, double, big number) and errors: the sequence parser has the details.
                return false;
        }
    }

    public static bool TryLine(ReadOnlySpan<byte> span, ref int position, int maxLength, out int start, out int length)
    {
        start = position;
        if ((uint)position > (uint)span.Length)
        {
            length = 0;
            return false;
        }

        var rest = span[position..];
        var cr = rest.IndexOfAny((byte)'\r', (byte)'\n');
        if (cr < 0 || rest[cr] != (byte)'\r' || cr + 1 >= rest.Length)
        {
            length = 0;
            return false; // incomplete, too long or malformed: the sequence parser decides
        }

        if (cr > maxLength || rest[cr + 1] != (byte)'\n')
        {
            length = 0;
            return false;
        }

        length = cr;
        position += cr + 2;
        return true;
    }

    public static bool TryNumberLine(ReadOnlySpan<byte> span, ref int position, string what, out long value)
    {
        var start = position;
        if (!TryLine(span, ref position, 20, out var lineStart, out var length))
        {
            position = start;
            value = 0;
            return false;
        }

        var line = span.Slice(lineStart, length);
        if (line.IsEmpty || line[0] == (byte)'+' || !Utf8Parser.TryParse(line, out value, out var used) || used != line.Length)
        {
            throw RespParser.Malformed($"invalid {what}");
        }

        return true;
    }
}
