using System.Buffers;
using System.Text;
using PipelineServer.Resp.Internal;

namespace PipelineServer.Resp;

/// <summary>
/// A command from a client: an array of bulk strings (<c>*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n</c>) or an inline command
/// (<c>GET key\r\n</c>, as typed in telnet). Arguments are slices of the pipe's buffer, valid until the connection's loop
/// advances past the command (that is, for the duration of the handler call); copy what must outlive it.
/// </summary>
public readonly struct RespCommand
{
    private readonly ReadOnlySequence<byte> _body; // after the array header, or the inline line

    // The first arguments as the reader found them (the name, usually a key, usually a value), so handlers reach them
    // without walking the command again. _cached says how many are set.
    private readonly ReadOnlySequence<byte> _arg0;
    private readonly ReadOnlySequence<byte> _arg1;
    private readonly ReadOnlySequence<byte> _arg2;
    private readonly int _cached;

    internal RespCommand(ReadOnlySequence<byte> body, int count, bool inline)
    {
        _body = body;
        Count = count;
        IsInline = inline;
    }

    internal RespCommand(ReadOnlySequence<byte> body, int count, int cached, ReadOnlySequence<byte> arg0, ReadOnlySequence<byte> arg1, ReadOnlySequence<byte> arg2)
        : this(body, count, inline: false)
    {
        _cached = cached;
        _arg0 = arg0;
        _arg1 = arg1;
        _arg2 = arg2;
    }

    /// <summary>The number of arguments, the command name included. Zero for an empty command (ignored by servers).</summary>
    public int Count { get; }

    /// <summary>Whether the command came inline (a line of space-separated words).</summary>
    public bool IsInline { get; }

    /// <summary>The command name (argument 0), as sent (any case).</summary>
    public ReadOnlySequence<byte> Name => this[0];

    /// <summary>An argument by position (0 is the name). Walks the command from the start: for many arguments, enumerate.</summary>
    /// <param name="index">The position.</param>
    /// <returns>The argument's bytes.</returns>
    public ReadOnlySequence<byte> this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            if (index < _cached)
            {
                return index switch { 0 => _arg0, 1 => _arg1, _ => _arg2 };
            }

            var arguments = GetEnumerator();
            for (var i = 0; i <= index; i++)
            {
                arguments.MoveNext();
            }

            return arguments.Current;
        }
    }

    /// <summary>Whether the command's name is <paramref name="name"/>, ignoring ASCII case.</summary>
    /// <param name="name">An upper- or lower-case ASCII name.</param>
    /// <returns><see langword="true"/> when it is.</returns>
    public bool NameIs(ReadOnlySpan<byte> name) => Count > 0 && EqualsIgnoreCase(Name, name);

    /// <summary>Whether an argument equals <paramref name="value"/>, ignoring ASCII case (for options such as <c>EX</c>).</summary>
    /// <param name="argument">The argument's bytes.</param>
    /// <param name="value">The value.</param>
    /// <returns><see langword="true"/> when it does.</returns>
    public static bool EqualsIgnoreCase(in ReadOnlySequence<byte> argument, ReadOnlySpan<byte> value)
    {
        if (argument.Length != value.Length)
        {
            return false;
        }

        Span<byte> buffer = stackalloc byte[64];
        var span = argument.IsSingleSegment ? argument.FirstSpan : value.Length <= 64 ? Copy(argument, buffer) : argument.ToArray();
        return Ascii.EqualsIgnoreCase(span, value);
    }

    /// <summary>The arguments in order, the name first; a struct enumerator that allocates nothing.</summary>
    /// <returns>The enumerator.</returns>
    public ArgumentEnumerator GetEnumerator() => new(_body, Count, IsInline);

    /// <summary>
    /// The arguments from position <paramref name="index"/> on (1: skip the name; 2: skip a subcommand too), for
    /// <c>foreach</c>. Allocates nothing.
    /// </summary>
    /// <param name="index">The first position to yield.</param>
    /// <returns>The enumerator, positioned before that argument.</returns>
    public ArgumentEnumerator ArgumentsFrom(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        var arguments = GetEnumerator();
        for (var i = 0; i < index && arguments.MoveNext(); i++)
        {
        }

        return arguments;
    }

    /// <summary>The command as text, for logs and errors (allocates).</summary>
    /// <returns>The text.</returns>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var argument in this)
        {
            text.Append(text.Length == 0 ? string.Empty : " ").Append(Encoding.UTF8.GetString(argument));
        }

        return text.ToString();
    }

    private static ReadOnlySpan<byte> Copy(in ReadOnlySequence<byte> source, Span<byte> buffer)
    {
        source.CopyTo(buffer);
        return buffer[..(int)source.Length];
    }

    /// <summary>Walks a command's arguments.</summary>
    public struct ArgumentEnumerator
    {
        private ReadOnlySequence<byte> _rest;
        private int _remaining;
        private readonly bool _inline;

        internal ArgumentEnumerator(ReadOnlySequence<byte> rest, int count, bool inline)
        {
            _rest = rest;
            _remaining = count;
            _inline = inline;
            Current = default;
        }

        /// <summary>The current argument.</summary>
        public ReadOnlySequence<byte> Current { get; private set; }

        /// <summary>Returns this enumerator (for <c>foreach</c>).</summary>
        /// <returns>This enumerator.</returns>
        public readonly ArgumentEnumerator GetEnumerator() => this;

        /// <summary>Moves to the next argument.</summary>
        /// <returns><see langword="false"/> after the last.</returns>
        public bool MoveNext()
        {
            if (_remaining <= 0)
            {
                return false;
            }

            _remaining--;
            var reader = new SequenceReader<byte>(_rest);
            if (_inline)
            {
                reader.AdvancePastAny((byte)' ', (byte)'\t');
                var start = reader.Position;
                if (!reader.TryAdvanceToAny(" \t"u8, advancePastDelimiter: false))
                {
                    reader.AdvanceToEnd();
                }

                Current = _rest.Slice(start, reader.Position);
            }
            else if (TryNextFast(out var argument, out var rest))
            {
                Current = argument;
                _rest = rest;
                return true;
            }
            else
            {
                // Validated by the reader: $<length>\r\n<bytes>\r\n.
                reader.Advance(1);
                RespParser.TryReadLine(ref reader, int.MaxValue, out var header);
                var length = RespParser.ParseInteger(header, "length");
                Current = reader.UnreadSequence.Slice(0, length);
                reader.Advance(length + 2);
            }

            _rest = reader.UnreadSequence;
            return true;
        }

        // The argument lies in the current segment: parse its header from the span.
        private readonly bool TryNextFast(out ReadOnlySequence<byte> argument, out ReadOnlySequence<byte> rest)
        {
            var span = _rest.FirstSpan;
            var position = 1;
            if (RespSpanParser.TryNumberLine(span, ref position, "length", out var length) && span.Length - position >= length + 2)
            {
                argument = _rest.Slice(position, length);
                rest = _rest.Slice(position + length + 2);
                return true;
            }

            argument = default;
            rest = default;
            return false;
        }
    }
}
