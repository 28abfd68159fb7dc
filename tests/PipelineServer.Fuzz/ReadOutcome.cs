using PipelineServer.Protocols;

namespace PipelineServer.Fuzz;

/// <summary>
/// What a reader made of a whole stream: the messages, each reduced to a byte fingerprint taken before its buffer was
/// released, and how the stream ended (cleanly, or with a protocol error).
/// </summary>
public sealed class ReadOutcome
{
    public List<byte[]> Messages { get; } = [];

    /// <summary>The protocol error that ended the stream, or <see langword="null"/> for a clean end.</summary>
    public ProtocolException? Error { get; set; }

    /// <summary>Used by models, which know an error is due but not the reader's wording.</summary>
    public bool Rejected { get; set; }

    public bool Failed => Error is not null || Rejected;

    /// <summary>Throws unless both outcomes have the same messages and both ended the same way (clean or rejected).</summary>
    /// <param name="expected">The reference.</param>
    /// <param name="actual">The run under test.</param>
    /// <param name="what">Names the two runs in the failure message.</param>
    public static void AssertSame(ReadOutcome expected, ReadOutcome actual, string what)
    {
        var common = Math.Min(expected.Messages.Count, actual.Messages.Count);
        for (var i = 0; i < common; i++)
        {
            if (!expected.Messages[i].AsSpan().SequenceEqual(actual.Messages[i]))
            {
                throw new FuzzFailureException(
                    $"{what}: message {i} differs: expected {Hex(expected.Messages[i])}, got {Hex(actual.Messages[i])}.");
            }
        }

        if (expected.Messages.Count != actual.Messages.Count || expected.Failed != actual.Failed)
        {
            throw new FuzzFailureException(
                $"{what}: expected {expected.Messages.Count} messages then {Describe(expected)}, got {actual.Messages.Count} then {Describe(actual)}.");
        }
    }

    public static string Hex(ReadOnlySpan<byte> bytes) =>
        bytes.Length <= 64 ? Convert.ToHexString(bytes) : $"{Convert.ToHexString(bytes[..64])}... ({bytes.Length} bytes)";

    private static string Describe(ReadOutcome outcome) =>
        outcome.Error is { } error ? $"{error.Kind} ({error.Message})" : outcome.Rejected ? "an error" : "a clean end";
}
