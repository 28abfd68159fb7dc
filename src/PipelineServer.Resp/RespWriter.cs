using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace PipelineServer.Resp;

/// <summary>Writes RESP values straight into a buffer writer (a pipe), allocating nothing.</summary>
public static class RespWriter
{
    /// <summary>Writes <c>+text\r\n</c>. The text must not contain CR or LF.</summary>
    /// <param name="output">The destination.</param>
    /// <param name="text">ASCII/UTF-8 text.</param>
    public static void WriteSimpleString(IBufferWriter<byte> output, ReadOnlySpan<byte> text) => WriteLine(output, (byte)'+', text);

    /// <summary>Writes <c>-message\r\n</c> (by convention the message starts with an error code such as <c>ERR</c>).</summary>
    /// <param name="output">The destination.</param>
    /// <param name="message">The message; CR and LF are replaced by spaces.</param>
    public static void WriteError(IBufferWriter<byte> output, string message)
    {
        var length = Encoding.UTF8.GetByteCount(message);
        var span = output.GetSpan(length + 3);
        span[0] = (byte)'-';
        Encoding.UTF8.GetBytes(message, span[1..]);
        foreach (ref var b in span.Slice(1, length))
        {
            if (b is (byte)'\r' or (byte)'\n')
            {
                b = (byte)' ';
            }
        }

        span[length + 1] = (byte)'\r';
        span[length + 2] = (byte)'\n';
        output.Advance(length + 3);
    }

    /// <summary>Writes <c>:n\r\n</c>.</summary>
    /// <param name="output">The destination.</param>
    /// <param name="value">The integer.</param>
    public static void WriteInteger(IBufferWriter<byte> output, long value) => WriteNumberLine(output, (byte)':', value);

    /// <summary>Writes a bulk string, <c>$length\r\nbytes\r\n</c>.</summary>
    /// <param name="output">The destination.</param>
    /// <param name="value">The bytes.</param>
    public static void WriteBulkString(IBufferWriter<byte> output, ReadOnlySpan<byte> value)
    {
        WriteNumberLine(output, (byte)'$', value.Length);
        output.Write(value);
        WriteCrLf(output);
    }

    /// <summary>Writes a bulk string from a sequence (for example another message's slice).</summary>
    /// <param name="output">The destination.</param>
    /// <param name="value">The bytes.</param>
    public static void WriteBulkString(IBufferWriter<byte> output, in ReadOnlySequence<byte> value)
    {
        WriteNumberLine(output, (byte)'$', value.Length);
        foreach (var segment in value)
        {
            output.Write(segment.Span);
        }

        WriteCrLf(output);
    }

    /// <summary>Writes null: RESP3 <c>_\r\n</c>, or RESP2's null bulk string <c>$-1\r\n</c>.</summary>
    /// <param name="output">The destination.</param>
    /// <param name="protocol">2 or 3.</param>
    public static void WriteNull(IBufferWriter<byte> output, int protocol)
    {
        if (protocol >= 3)
        {
            output.Write("_\r\n"u8);
        }
        else
        {
            output.Write("$-1\r\n"u8);
        }
    }

    /// <summary>Writes an aggregate header: array, set, push (elements) or map, attribute (pairs).</summary>
    /// <param name="output">The destination.</param>
    /// <param name="type">The aggregate type. In RESP2 maps become arrays of 2 × count, sets and pushes arrays.</param>
    /// <param name="count">The number of elements (pairs for a map or attribute).</param>
    /// <param name="protocol">2 or 3.</param>
    public static void WriteAggregateHeader(IBufferWriter<byte> output, RespType type, long count, int protocol)
    {
        if (protocol < 3)
        {
            WriteNumberLine(output, (byte)'*', type is RespType.Map or RespType.Attribute ? count * 2 : count);
            return;
        }

        if (type is not (RespType.Array or RespType.Set or RespType.Push or RespType.Map or RespType.Attribute))
        {
            throw new ArgumentOutOfRangeException(nameof(type), type, "Not an aggregate type.");
        }

        WriteNumberLine(output, (byte)type, count);
    }

    /// <summary>Writes a double: RESP3 <c>,3.14\r\n</c>, or a bulk string in RESP2.</summary>
    /// <param name="output">The destination.</param>
    /// <param name="value">The double.</param>
    /// <param name="protocol">2 or 3.</param>
    public static void WriteDouble(IBufferWriter<byte> output, double value, int protocol)
    {
        Span<byte> text = stackalloc byte[32];
        int length;
        if (double.IsPositiveInfinity(value))
        {
            "inf"u8.CopyTo(text);
            length = 3;
        }
        else if (double.IsNegativeInfinity(value))
        {
            "-inf"u8.CopyTo(text);
            length = 4;
        }
        else if (double.IsNaN(value))
        {
            "nan"u8.CopyTo(text);
            length = 3;
        }
        else
        {
            value.TryFormat(text, out length, "R", CultureInfo.InvariantCulture);
        }

        if (protocol >= 3)
        {
            WriteLine(output, (byte)',', text[..length]);
        }
        else
        {
            WriteBulkString(output, text[..length]);
        }
    }

    /// <summary>Writes a boolean: RESP3 <c>#t\r\n</c>/<c>#f\r\n</c>, or the integer 1/0 in RESP2.</summary>
    /// <param name="output">The destination.</param>
    /// <param name="value">The boolean.</param>
    /// <param name="protocol">2 or 3.</param>
    public static void WriteBoolean(IBufferWriter<byte> output, bool value, int protocol)
    {
        if (protocol >= 3)
        {
            output.Write(value ? "#t\r\n"u8 : "#f\r\n"u8);
        }
        else
        {
            output.Write(value ? ":1\r\n"u8 : ":0\r\n"u8);
        }
    }

    /// <summary>Writes a RESP3 big number <c>(digits\r\n</c> (a bulk string in RESP2).</summary>
    /// <param name="output">The destination.</param>
    /// <param name="digits">Digits with an optional sign.</param>
    /// <param name="protocol">2 or 3.</param>
    public static void WriteBigNumber(IBufferWriter<byte> output, ReadOnlySpan<byte> digits, int protocol)
    {
        if (protocol >= 3)
        {
            WriteLine(output, (byte)'(', digits);
        }
        else
        {
            WriteBulkString(output, digits);
        }
    }

    /// <summary>Writes a RESP3 verbatim string <c>=length\r\nfmt:text\r\n</c> (a bulk string of the text in RESP2).</summary>
    /// <param name="output">The destination.</param>
    /// <param name="format">Three ASCII letters, <c>txt</c> or <c>mkd</c>.</param>
    /// <param name="text">The text.</param>
    /// <param name="protocol">2 or 3.</param>
    public static void WriteVerbatimString(IBufferWriter<byte> output, ReadOnlySpan<byte> format, ReadOnlySpan<byte> text, int protocol)
    {
        if (format.Length != 3)
        {
            throw new ArgumentException("The format is three letters.", nameof(format));
        }

        if (protocol < 3)
        {
            WriteBulkString(output, text);
            return;
        }

        WriteNumberLine(output, (byte)'=', text.Length + 4);
        output.Write(format);
        output.Write(":"u8);
        output.Write(text);
        WriteCrLf(output);
    }

    /// <summary>Writes a RESP3 bulk error <c>!length\r\nmessage\r\n</c> (a simple error in RESP2).</summary>
    /// <param name="output">The destination.</param>
    /// <param name="message">The message.</param>
    /// <param name="protocol">2 or 3.</param>
    public static void WriteBulkError(IBufferWriter<byte> output, string message, int protocol)
    {
        if (protocol < 3)
        {
            WriteError(output, message);
            return;
        }

        var bytes = Encoding.UTF8.GetBytes(message);
        WriteNumberLine(output, (byte)'!', bytes.Length);
        output.Write(bytes);
        WriteCrLf(output);
    }

    private static void WriteLine(IBufferWriter<byte> output, byte prefix, ReadOnlySpan<byte> text)
    {
        var span = output.GetSpan(text.Length + 3);
        span[0] = prefix;
        text.CopyTo(span[1..]);
        span[text.Length + 1] = (byte)'\r';
        span[text.Length + 2] = (byte)'\n';
        output.Advance(text.Length + 3);
    }

    private static void WriteNumberLine(IBufferWriter<byte> output, byte prefix, long value)
    {
        var span = output.GetSpan(23);
        span[0] = prefix;
        Utf8Formatter.TryFormat(value, span[1..], out var written);
        span[written + 1] = (byte)'\r';
        span[written + 2] = (byte)'\n';
        output.Advance(written + 3);
    }

    private static void WriteCrLf(IBufferWriter<byte> output) => output.Write("\r\n"u8);
}
