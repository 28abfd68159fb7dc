using System.Buffers.Binary;
using PipelineServer.Protocols.Framing;

namespace PipelineServer.Fuzz;

/// <summary>
/// Reference decoders for the framing codecs: the documented semantics written as plainly as possible, over the whole
/// stream at once. The real codecs, fed in pieces through a pipe, must return the same frames and fail on the same
/// inputs. A model knows only that a stream is rejected, not which error the codec reports.
/// </summary>
internal static class FramingModels
{
    public static ReadOutcome LengthField(LengthFieldConfig config, ReadOnlySpan<byte> stream, int limit)
    {
        var outcome = new ReadOutcome();
        var headerEnd = config.Offset + config.FieldLength;
        for (var position = 0; position < stream.Length;)
        {
            var rest = stream[position..];
            if (rest.Length < headerEnd)
            {
                outcome.Rejected = true;
                break;
            }

            var field = rest.Slice(config.Offset, config.FieldLength);
            var little = config.Order == ByteOrder.LittleEndian;
            long value = config.FieldLength switch
            {
                1 => field[0],
                2 => little ? BinaryPrimitives.ReadUInt16LittleEndian(field) : BinaryPrimitives.ReadUInt16BigEndian(field),
                3 => little ? field[0] | (field[1] << 8) | (field[2] << 16) : (field[0] << 16) | (field[1] << 8) | field[2],
                4 => little ? BinaryPrimitives.ReadUInt32LittleEndian(field) : BinaryPrimitives.ReadUInt32BigEndian(field),
                _ => little ? BinaryPrimitives.ReadInt64LittleEndian(field) : BinaryPrimitives.ReadInt64BigEndian(field),
            };
            var frame = (Int128)value + config.Adjustment + headerEnd;
            if (value < 0 || frame > limit || frame < headerEnd || config.Strip > frame || rest.Length < frame)
            {
                outcome.Rejected = true;
                break;
            }

            outcome.Messages.Add(rest[config.Strip..(int)frame].ToArray());
            position += (int)frame;
        }

        return outcome;
    }

    // The earliest delimiter wins; of two that start at the same byte, the longer.
    public static ReadOutcome Delimiter(DelimiterConfig config, ReadOnlySpan<byte> stream, int limit)
    {
        var outcome = new ReadOutcome();
        for (var position = 0; position < stream.Length;)
        {
            var rest = stream[position..];
            int start = -1, length = 0;
            for (var i = 0; i < rest.Length && start < 0; i++)
            {
                foreach (var delimiter in config.Delimiters)
                {
                    if (rest[i..].StartsWith(delimiter) && delimiter.Length > length)
                    {
                        start = i;
                        length = delimiter.Length;
                    }
                }
            }

            if (start < 0 || start + length > limit || MayStillBeOutdone(config.Delimiters, rest, start, length))
            {
                outcome.Rejected = true;
                break;
            }

            outcome.Messages.Add(rest[..(config.Strip ? start : start + length)].ToArray());
            position += start + length;
        }

        return outcome;
    }

    // At the end of the stream, a delimiter that would win (earlier, or as early and longer) may be cut off: the reader
    // cannot know the stream ends there, so it waits, and the stream is truncated.
    private static bool MayStillBeOutdone(byte[][] delimiters, ReadOnlySpan<byte> rest, int start, int length)
    {
        foreach (var delimiter in delimiters)
        {
            for (var s = Math.Max(0, rest.Length - delimiter.Length + 1); s <= start; s++)
            {
                if ((s < start || delimiter.Length > length) && delimiter.AsSpan().StartsWith(rest[s..]))
                {
                    return true;
                }
            }
        }

        return false;
    }

    public static ReadOutcome FixedLength(int frameLength, ReadOnlySpan<byte> stream, int limit)
    {
        var outcome = new ReadOutcome();
        for (var position = 0; position < stream.Length; position += frameLength)
        {
            if (stream.Length - position < frameLength || frameLength > limit)
            {
                outcome.Rejected = true;
                break;
            }

            outcome.Messages.Add(stream.Slice(position, frameLength).ToArray());
        }

        return outcome;
    }

    public static ReadOutcome Varint(ReadOnlySpan<byte> stream, int limit)
    {
        var outcome = new ReadOutcome();
        for (var position = 0; position < stream.Length;)
        {
            var rest = stream[position..];
            long value = 0;
            var prefix = 0;
            for (var i = 0; i < Math.Min(rest.Length, VarintFrameReader.MaxPrefixLength); i++)
            {
                if (i == VarintFrameReader.MaxPrefixLength - 1 && rest[i] > 0x0F)
                {
                    break; // more than 32 bits, or a sixth byte
                }

                value |= (long)(rest[i] & 0x7F) << (7 * i);
                if ((rest[i] & 0x80) == 0)
                {
                    prefix = i + 1;
                    break;
                }
            }

            var frame = prefix + value;
            if (prefix == 0 || frame > limit || rest.Length < frame)
            {
                outcome.Rejected = true;
                break;
            }

            outcome.Messages.Add(rest[prefix..(int)frame].ToArray());
            position += (int)frame;
        }

        return outcome;
    }
}

internal sealed record LengthFieldConfig(int MaxFrameLength, int Offset, int FieldLength, int Adjustment, int Strip, ByteOrder Order)
{
    public LengthFieldFrameReader CreateReader() => new(MaxFrameLength, Offset, FieldLength, Adjustment, Strip, Order);
}

internal sealed record DelimiterConfig(byte[][] Delimiters, bool Strip, int MaxFrameLength, bool Lines = false)
{
    public DelimiterFrameReader CreateReader() =>
        Lines ? DelimiterFrameReader.Lines(Strip, MaxFrameLength)
        : Delimiters.Length == 1 ? new DelimiterFrameReader(Delimiters[0], Strip, MaxFrameLength)
        : DelimiterFrameReader.Create(Delimiters, Strip, MaxFrameLength);
}
