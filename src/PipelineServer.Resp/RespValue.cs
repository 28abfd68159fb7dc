using System.Buffers;
using System.Text;
using PipelineServer.Resp.Internal;

namespace PipelineServer.Resp;

/// <summary>
/// One complete, validated RESP value, as a view over its encoded bytes (<see cref="Raw"/>): nothing is copied or
/// allocated until an accessor asks for it, and aggregates are walked lazily. When the bytes are a slice of a pipe's
/// buffer, the value is valid only until the reader advances (the lifetime rule of <c>ProtocolReader</c>).
/// </summary>
public readonly struct RespValue
{
    internal RespValue(RespType type, ReadOnlySequence<byte> raw)
    {
        Type = type;
        Raw = raw;
    }

    /// <summary>The value's type (for a value preceded by an attribute, the type of the value itself).</summary>
    public RespType Type { get; }

    /// <summary>The whole encoding, type byte and CRLFs included (an attribute before the value included).</summary>
    public ReadOnlySequence<byte> Raw { get; }

    /// <summary>Whether an attribute (RESP3 <c>|</c>) precedes the value.</summary>
    public bool HasAttribute => Type != RespType.Attribute && !Raw.IsEmpty && Raw.FirstSpan[0] == (byte)RespType.Attribute;

    /// <summary>RESP3 null, or RESP2's null bulk string (<c>$-1</c>) or null array (<c>*-1</c>).</summary>
    public bool IsNull => Type == RespType.Null || (Type is RespType.BulkString or RespType.Array && NullHeader());

    /// <summary>
    /// The attribute's key/value pairs as a map-like value (<see cref="RespType.Attribute"/>), or the default value when
    /// there is none.
    /// </summary>
    public RespValue Attribute
    {
        get
        {
            if (!HasAttribute)
            {
                return default;
            }

            var reader = new SequenceReader<byte>(Raw);
            var start = reader.Position;
            SkipAttribute(ref reader);
            return new RespValue(RespType.Attribute, Raw.Slice(start, reader.Position));
        }
    }

    /// <summary>
    /// The content of a string-like value: the bytes of a bulk string, bulk error or verbatim string (format prefix
    /// included), or the text of a simple string, simple error, double or big number.
    /// </summary>
    /// <exception cref="InvalidOperationException">The value is an aggregate, integer, boolean or null.</exception>
    public ReadOnlySequence<byte> Payload
    {
        get
        {
            if (Raw.IsSingleSegment && !HasAttribute && TryPayloadFast(out var fast))
            {
                return fast;
            }

            var reader = Body(out var type);
            switch (type)
            {
                case RespType.SimpleString:
                case RespType.SimpleError:
                case RespType.Double:
                case RespType.BigNumber:
                    RespParser.TryReadLine(ref reader, int.MaxValue, out var line);
                    return line;
                case RespType.BulkString:
                case RespType.BulkError:
                case RespType.VerbatimString:
                {
                    RespParser.TryReadLine(ref reader, int.MaxValue, out var header);
                    var length = RespParser.ParseInteger(header, "length");
                    if (length < 0)
                    {
                        throw new InvalidOperationException("The value is null.");
                    }

                    return reader.UnreadSequence.Slice(0, length);
                }

                default:
                    throw new InvalidOperationException($"A {type} value has no payload.");
            }
        }
    }

    // Payload for a value in one span: the usual case, without a SequenceReader.
    private bool TryPayloadFast(out ReadOnlySequence<byte> payload)
    {
        var span = Raw.FirstSpan;
        var position = 1;
        switch (Type)
        {
            case RespType.SimpleString or RespType.SimpleError or RespType.Double or RespType.BigNumber:
                if (RespSpanParser.TryLine(span, ref position, int.MaxValue, out var start, out var length))
                {
                    payload = Raw.Slice(start, length);
                    return true;
                }

                break;
            case RespType.BulkString or RespType.BulkError or RespType.VerbatimString:
                if (RespSpanParser.TryNumberLine(span, ref position, "length", out var bulk) && bulk >= 0)
                {
                    payload = Raw.Slice(position, bulk);
                    return true;
                }

                break;
        }

        payload = default;
        return false;
    }

    /// <summary>The number of elements of an array, set or push, or of pairs of a map or attribute (-1 for a RESP2 null array).</summary>
    /// <exception cref="InvalidOperationException">The value is not an aggregate.</exception>
    public long Length => Type is RespType.Array or RespType.Set or RespType.Push or RespType.Map or RespType.Attribute
        ? HeaderNumber()
        : throw new InvalidOperationException($"A {Type} value has no elements.");

    /// <summary>The value of an integer.</summary>
    /// <returns>The integer.</returns>
    public long GetInteger() => Type == RespType.Integer ? HeaderNumber() : throw new InvalidOperationException($"A {Type} value is not an integer.");

    /// <summary>The value of a boolean.</summary>
    /// <returns>The boolean.</returns>
    public bool GetBoolean()
    {
        var reader = Body(out var type);
        if (type != RespType.Boolean)
        {
            throw new InvalidOperationException($"A {Type} value is not a boolean.");
        }

        reader.TryRead(out var b);
        return b == (byte)'t';
    }

    /// <summary>The value of a double.</summary>
    /// <returns>The double.</returns>
    public double GetDouble() => Type == RespType.Double ? RespParser.ParseDouble(Payload) : throw new InvalidOperationException($"A {Type} value is not a double.");

    /// <summary>The payload as UTF-8 text (allocates a string).</summary>
    /// <returns>The text.</returns>
    public string GetString() => Encoding.UTF8.GetString(Payload);

    /// <summary>
    /// The elements of an aggregate, in order (a map's keys and values alternate). A struct enumerator: walking it
    /// allocates nothing.
    /// </summary>
    /// <returns>The enumerator.</returns>
    public ElementEnumerator EnumerateElements()
    {
        var count = Length;
        var reader = Body(out var type);
        RespParser.TryReadLine(ref reader, int.MaxValue, out _);
        var elements = count < 0 ? 0 : (type is RespType.Map or RespType.Attribute ? count * 2 : count);
        return new ElementEnumerator(reader.UnreadSequence, elements);
    }

    /// <summary>A copy of the value that owns its bytes, to keep after the buffer it was read from moves on.</summary>
    /// <returns>The copy.</returns>
    public RespValue ToOwned() => new(Type, new ReadOnlySequence<byte>(Raw.ToArray()));

    /// <inheritdoc />
    public override string ToString() => $"{Type} ({Raw.Length} bytes)";

    // A reader positioned after the value's type byte (past any attribute).
    private SequenceReader<byte> Body(out RespType type)
    {
        var reader = new SequenceReader<byte>(Raw);
        if (HasAttribute)
        {
            SkipAttribute(ref reader);
        }

        reader.TryRead(out var prefix);
        type = (RespType)prefix;
        return reader;
    }

    // "$-1" / "*-1": the only negative a valid bulk or array header can hold.
    private bool NullHeader()
    {
        var first = Raw.FirstSpan;
        return !HasAttribute && first.Length >= 2 ? first[1] == (byte)'-' : HeaderNumber() == -1;
    }

    private long HeaderNumber()
    {
        var reader = Body(out _);
        RespParser.TryReadLine(ref reader, int.MaxValue, out var line);
        return RespParser.ParseInteger(line, "number");
    }

    private static void SkipAttribute(ref SequenceReader<byte> reader)
    {
        // Already validated: walk the attribute's pairs without limits, stopping before the value it describes.
        reader.Advance(1);
        RespParser.TryReadLine(ref reader, int.MaxValue, out var line);
        var pairs = RespParser.ParseInteger(line, "count");
        for (long i = 0; i < pairs * 2; i++)
        {
            RespParser.TrySkipValue(ref reader, Unlimited, 0, out _);
        }
    }

    internal static RespLimits Unlimited { get; } = new()
    {
        MaxBulkLength = long.MaxValue,
        MaxAggregateLength = long.MaxValue,
        MaxDepth = int.MaxValue,
        MaxInlineLength = int.MaxValue,
        MaxLineLength = int.MaxValue,
    };

    /// <summary>Walks an aggregate's elements.</summary>
    public struct ElementEnumerator
    {
        private ReadOnlySequence<byte> _rest;
        private long _remaining;

        internal ElementEnumerator(ReadOnlySequence<byte> rest, long count)
        {
            _rest = rest;
            _remaining = count;
            Current = default;
        }

        /// <summary>The current element.</summary>
        public RespValue Current { get; private set; }

        /// <summary>Returns this enumerator (for <c>foreach</c>).</summary>
        /// <returns>This enumerator.</returns>
        public readonly ElementEnumerator GetEnumerator() => this;

        /// <summary>Moves to the next element.</summary>
        /// <returns><see langword="false"/> after the last.</returns>
        public bool MoveNext()
        {
            if (_remaining <= 0)
            {
                return false;
            }

            _remaining--;
            var reader = new SequenceReader<byte>(_rest);
            RespParser.TrySkipValue(ref reader, Unlimited, 0, out var type);
            Current = new RespValue(type, _rest.Slice(0, reader.Position));
            _rest = reader.UnreadSequence;
            return true;
        }
    }
}
