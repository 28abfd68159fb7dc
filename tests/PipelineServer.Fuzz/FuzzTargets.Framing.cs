using PipelineServer.Protocols;
using PipelineServer.Protocols.Framing;

namespace PipelineServer.Fuzz;

public static partial class FuzzTargets
{
    private static readonly LengthFieldConfig[] s_lengthFieldConfigs =
    [
        new(64, 0, 4, 0, 0, ByteOrder.BigEndian),
        new(64, 0, 1, 0, 1, ByteOrder.BigEndian),
        new(100, 0, 2, -2, 0, ByteOrder.LittleEndian), // the length counts its own field
        new(300, 2, 3, 1, 5, ByteOrder.BigEndian),
        new(64, 1, 8, 0, 0, ByteOrder.BigEndian),
        new(64, 0, 8, -8, 8, ByteOrder.LittleEndian),
        new(ProtocolDefaults.MaxMessageSize, 0, 4, 0, 4, ByteOrder.BigEndian),
        new(20, 3, 2, 4, 2, ByteOrder.LittleEndian),
        new(16, 0, 2, -3, 0, ByteOrder.BigEndian), // an adjustment larger than the header: short frames are malformed
        new(256, 0, 1, 0, 0, ByteOrder.BigEndian),
    ];

    private static readonly DelimiterConfig[] s_delimiterConfigs =
    [
        new(["\n"u8.ToArray()], Strip: true, 32),
        new(["\r\n"u8.ToArray()], Strip: false, 64),
        new(["\r\n"u8.ToArray(), "\n"u8.ToArray()], Strip: true, 16, Lines: true),
        new(["\r\n"u8.ToArray(), "\n"u8.ToArray()], Strip: false, 8, Lines: true),
        new(["ab"u8.ToArray(), "b"u8.ToArray()], Strip: true, 64),
        new(["\r\n"u8.ToArray(), "\r"u8.ToArray(), "\n"u8.ToArray()], Strip: true, 64), // any line ending
        new([[0]], Strip: true, ProtocolDefaults.MaxMessageSize),
        new(["xyz"u8.ToArray(), "yz"u8.ToArray(), "z"u8.ToArray()], Strip: false, 10),
        new(["\r\n\r\n"u8.ToArray()], Strip: false, 128),
        new(["--"u8.ToArray(), "-"u8.ToArray()], Strip: true, 32),
    ];

    private static ReadOnlySpan<int> FixedLengths => [1, 2, 3, 4, 7, 8, 16, 100];

    private static ReadOnlySpan<int> VarintLimits => [1, 2, 5, 6, 16, 128, 300, ProtocolDefaults.MaxMessageSize];

    /// <summary>
    /// <see cref="LengthFieldFrameReader"/>: options bits 0-3 choose one of ten configurations (field sizes 1-8, both
    /// byte orders, offsets, adjustments, stripping), bits 4-7 the protocol reader's limit. Frames must match the model.
    /// </summary>
    /// <param name="data">The input.</param>
    public static void LengthFieldFrames(ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        var config = s_lengthFieldConfigs[(input.Options & 0x0F) % s_lengthFieldConfigs.Length];
        var limit = ReaderLimit(input.Options >> 4, config.MaxFrameLength);
        var actual = ReadBothWays(config.CreateReader(), input, limit, static frame => frame.ToArray());
        ReadOutcome.AssertSame(FramingModels.LengthField(config, input.Stream, Math.Min(limit, config.MaxFrameLength)), actual, $"model vs {config}");
    }

    /// <summary>
    /// <see cref="DelimiterFrameReader"/>: options bits 0-3 choose the delimiters (one, <c>Lines</c>, several, some
    /// overlapping) and stripping, bits 4-7 the protocol reader's limit. Frames must match the model.
    /// </summary>
    /// <param name="data">The input.</param>
    public static void DelimiterFrames(ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        var config = s_delimiterConfigs[(input.Options & 0x0F) % s_delimiterConfigs.Length];
        var limit = ReaderLimit(input.Options >> 4, config.MaxFrameLength);
        var actual = ReadBothWays(config.CreateReader(), input, limit, static frame => frame.ToArray());
        var delimiters = string.Join(", ", config.Delimiters.Select(static d => Convert.ToHexString(d)));
        ReadOutcome.AssertSame(FramingModels.Delimiter(config, input.Stream, Math.Min(limit, config.MaxFrameLength)), actual, $"model vs delimiters [{delimiters}]");
    }

    /// <summary>
    /// <see cref="FixedLengthFrameReader"/>: options bits 0-2 choose the frame length (1 to 100), bits 4-7 the protocol
    /// reader's limit.
    /// </summary>
    /// <param name="data">The input.</param>
    public static void FixedLengthFrames(ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        var length = FixedLengths[input.Options & 7];
        var limit = ReaderLimit(input.Options >> 4, ProtocolDefaults.MaxMessageSize);
        var actual = ReadBothWays(new FixedLengthFrameReader(length), input, limit, static frame => frame.ToArray());
        ReadOutcome.AssertSame(FramingModels.FixedLength(length, input.Stream, limit), actual, $"model vs frames of {length}");
    }

    /// <summary>
    /// <see cref="VarintFrameReader"/>: options bits 0-2 choose the frame limit (1 byte to 1 MiB), bits 4-7 the protocol
    /// reader's limit.
    /// </summary>
    /// <param name="data">The input.</param>
    public static void VarintFrames(ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        var max = VarintLimits[input.Options & 7];
        var limit = ReaderLimit(input.Options >> 4, max);
        var actual = ReadBothWays(new VarintFrameReader(max), input, limit, static frame => frame.ToArray());
        ReadOutcome.AssertSame(FramingModels.Varint(input.Stream, Math.Min(limit, max)), actual, $"model vs varint frames of at most {max}");
    }
}
