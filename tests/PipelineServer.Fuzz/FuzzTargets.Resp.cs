using System.Buffers.Binary;
using PipelineServer.Protocols;
using PipelineServer.Resp;

namespace PipelineServer.Fuzz;

public static partial class FuzzTargets
{
    private static readonly RespLimits[] s_respLimits =
    [
        RespLimits.Default,
        new() { MaxBulkLength = 16, MaxAggregateLength = 4, MaxDepth = 3, MaxInlineLength = 16, MaxLineLength = 16 },
        new() { MaxBulkLength = 256, MaxAggregateLength = 64, MaxDepth = 8, MaxInlineLength = 64, MaxLineLength = 64 },
        new() { MaxDepth = 1, MaxInlineLength = 4, MaxLineLength = 4 },
    ];

    /// <summary>
    /// <see cref="RespValueReader"/> (every RESP2/RESP3 type, attributes, nesting): options bits 0-1 choose the limits,
    /// bits 4-7 the protocol reader's limit. Each value is walked with its accessors (payloads, numbers, elements) while
    /// its buffer is valid; values must be back-to-back slices of the stream within the reader's limit.
    /// </summary>
    /// <param name="data">The input.</param>
    public static void RespValues(ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        var limits = s_respLimits[input.Options & 3];
        var limit = ReaderLimit(input.Options >> 4, ProtocolDefaults.MaxMessageSize);
        var outcome = ReadBothWays(new RespValueReader(limits), input, limit, static value =>
        {
            Walk(value, 0);
            return [(byte)value.Type, .. value.Raw.ToArray()];
        });

        var offset = 0;
        foreach (var message in outcome.Messages)
        {
            var raw = message.AsSpan(1);
            if (raw.Length > limit || !input.Stream[offset..].StartsWith(raw))
            {
                throw new FuzzFailureException($"Value {ReadOutcome.Hex(raw)} is not the next {raw.Length} bytes of the stream at {offset}, within the limit of {limit}.");
            }

            offset += raw.Length;
        }

        if (!outcome.Failed && offset != input.Stream.Length)
        {
            throw new FuzzFailureException($"The stream ended cleanly but only {offset} of its {input.Stream.Length} bytes were values.");
        }
    }

    /// <summary>
    /// <see cref="RespCommandReader"/> (arrays of bulk strings and inline commands): options bits 0-1 choose the limits,
    /// bits 4-7 the protocol reader's limit. Each command's arguments are read by enumeration and by index, and must
    /// appear in the stream in order.
    /// </summary>
    /// <param name="data">The input.</param>
    public static void RespCommands(ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        var limits = s_respLimits[input.Options & 3];
        var limit = ReaderLimit(input.Options >> 4, ProtocolDefaults.MaxMessageSize);
        var outcome = ReadBothWays(new RespCommandReader(limits), input, limit, Fingerprint);

        var offset = 0;
        foreach (var message in outcome.Messages)
        {
            for (var rest = message.AsSpan(1); !rest.IsEmpty;)
            {
                var length = BinaryPrimitives.ReadInt32LittleEndian(rest);
                var argument = rest.Slice(4, length);
                var found = input.Stream[offset..].IndexOf(argument);
                if (found < 0)
                {
                    throw new FuzzFailureException($"Argument {ReadOutcome.Hex(argument)} does not appear in the stream after offset {offset}.");
                }

                offset += found + length;
                rest = rest[(4 + length)..];
            }
        }
    }

    private static byte[] Fingerprint(RespCommand command)
    {
        var buffer = new ArrayBufferWriter<byte>();
        buffer.Write([command.IsInline ? (byte)1 : (byte)0]);
        var count = 0;
        foreach (var argument in command)
        {
            if (count < 8 && !command[count].ToArray().AsSpan().SequenceEqual(argument.ToArray()))
            {
                throw new FuzzFailureException($"Argument {count} read by index differs from the enumerated one.");
            }

            if (command.IsInline && (argument.IsEmpty || argument.PositionOf((byte)' ') is not null || argument.PositionOf((byte)'\t') is not null))
            {
                throw new FuzzFailureException($"Inline argument {count} is empty or holds a separator.");
            }

            BinaryPrimitives.WriteInt32LittleEndian(buffer.GetSpan(4), (int)argument.Length);
            buffer.Advance(4);
            foreach (var segment in argument)
            {
                buffer.Write(segment.Span);
            }

            count++;
        }

        if (count != command.Count)
        {
            throw new FuzzFailureException($"The command announces {command.Count} arguments but enumerates {count}.");
        }

        var skipped = 0;
        foreach (var argument in command.ArgumentsFrom(1))
        {
            _ = argument;
            skipped++;
        }

        if (skipped != Math.Max(0, count - 1))
        {
            throw new FuzzFailureException($"ArgumentsFrom(1) yields {skipped} of {count} arguments.");
        }

        _ = command.NameIs("PING"u8);
        _ = command.ToString();
        return buffer.WrittenSpan.ToArray();
    }

    // Every accessor a handler or client may call on a value of this type must work on anything the reader accepted.
    private static void Walk(RespValue value, int depth)
    {
        if (depth > 64)
        {
            throw new FuzzFailureException("A value nests deeper than any limit allows.");
        }

        if (value.HasAttribute)
        {
            Walk(value.Attribute, depth + 1);
        }

        if (value.IsNull)
        {
            return;
        }

        switch (value.Type)
        {
            case RespType.SimpleString or RespType.SimpleError or RespType.BigNumber or RespType.BulkString or RespType.BulkError or RespType.VerbatimString:
                _ = value.GetString();
                break;
            case RespType.Integer:
                _ = value.GetInteger();
                break;
            case RespType.Double:
                _ = value.GetDouble();
                break;
            case RespType.Boolean:
                _ = value.GetBoolean();
                break;
            case RespType.Array or RespType.Set or RespType.Push or RespType.Map or RespType.Attribute:
            {
                var expected = value.Type is RespType.Map or RespType.Attribute ? value.Length * 2 : value.Length;
                long count = 0;
                foreach (var element in value.EnumerateElements())
                {
                    Walk(element, depth + 1);
                    count++;
                }

                if (count != expected)
                {
                    throw new FuzzFailureException($"A {value.Type} of length {value.Length} enumerates {count} elements.");
                }

                break;
            }

            case RespType.Null:
                break;
            default:
                throw new FuzzFailureException($"The reader accepted a value of unknown type 0x{(byte)value.Type:X2}.");
        }
    }
}
