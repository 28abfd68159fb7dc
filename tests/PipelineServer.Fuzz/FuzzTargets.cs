namespace PipelineServer.Fuzz;

/// <summary>A fuzz target: runs one input and throws when a parser misbehaves on it.</summary>
/// <param name="data">The input: a segmentation byte, an options byte, then the stream (see <see cref="FuzzInput"/>).</param>
public delegate void FuzzTarget(ReadOnlySpan<byte> data);

/// <summary>
/// One target per parser the framework ships. Each feeds the input through the parser the way a connection does and
/// returns normally for messages and for the parser's documented errors (<see cref="Protocols.ProtocolException"/>, or
/// an invalid PROXY header). Anything else escaping (another exception type, a broken check, a stack overflow, a hang)
/// is a finding. Used by the fuzzing executable and by the corpus replay tests.
/// </summary>
public static partial class FuzzTargets
{
    /// <summary>The targets by the name the fuzzing executable and <c>perf/fuzz.sh</c> use.</summary>
    public static IReadOnlyDictionary<string, FuzzTarget> All { get; } = new Dictionary<string, FuzzTarget>(StringComparer.Ordinal)
    {
        [FuzzTargetNames.LengthField] = LengthFieldFrames,
        [FuzzTargetNames.Delimiter] = DelimiterFrames,
        [FuzzTargetNames.Fixed] = FixedLengthFrames,
        [FuzzTargetNames.Varint] = VarintFrames,
        [FuzzTargetNames.RespValue] = RespValues,
        [FuzzTargetNames.RespCommand] = RespCommands,
        [FuzzTargetNames.Proxy] = ProxyHeaders,
    };

    // The protocol reader's limit: most inputs run the documented setup (at least the codec's own limit); some run a
    // tighter one, so that the reader's limit, not the codec's, is what stops a message.
    private static int ReaderLimit(int selector, int codecLimit) => (selector & 0x0F) switch
    {
        12 => 1,
        13 => 8,
        14 => 32,
        15 => 100,
        _ => codecLimit,
    };

    // Runs the input as segmented, then (unless it already was) in one piece, and requires the same outcome.
    private static ReadOutcome ReadBothWays<TMessage>(
        Protocols.IMessageReader<TMessage> codec, in FuzzInput input, int readerLimit, Func<TMessage, byte[]> fingerprint)
    {
        var whole = StreamDriver.Read(codec, input.Stream, Segmentation.Whole, readerLimit, fingerprint);
        if (input.Segmentation != Segmentation.Whole)
        {
            var segmented = StreamDriver.Read(codec, input.Stream, input.Segmentation, readerLimit, fingerprint);
            ReadOutcome.AssertSame(whole, segmented, $"segmented as {input.Segmentation} vs in one piece");
        }

        return whole;
    }
}
