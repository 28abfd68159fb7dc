using System.Buffers;
using PipelineServer.Protocols.Internal;

namespace PipelineServer.Protocols.Framing;

/// <summary>
/// Splits a stream into frames that end with a delimiter, such as <c>\n</c> or <c>\r\n</c>. Frames are slices of the
/// input: nothing is copied.
/// </summary>
/// <remarks>
/// <para>
/// With several delimiters, the one that gives the shortest frame wins; where two match at the same place, the longer
/// one wins (so with <c>\r\n</c> and <c>\n</c>, <c>"a\r\n"</c> is the frame <c>"a"</c>). A frame is not cut while the
/// bytes at the end of the buffer may still grow into a delimiter that would win: with <c>\r\n</c> and <c>\r</c>,
/// <c>"a\r"</c> waits for the next byte. So the frames never depend on how the stream was split into reads, and a
/// stream that ends just there is truncated, not ended by the shorter delimiter.
/// </para>
/// <para>
/// <see cref="MaxFrameLength"/> bounds the bytes one frame occupies on the wire, delimiter included. The reader fails
/// as soon as the limit is certain to be passed: when a frame's delimiter is found beyond it, or when that many bytes
/// are buffered with no delimiter among them.
/// </para>
/// </remarks>
public sealed class DelimiterFrameReader : IMessageReader<ReadOnlySequence<byte>>
{
    private readonly byte[][] _delimiters;
    private readonly int _longestDelimiter;

    /// <summary>Creates a reader for frames ended by one delimiter.</summary>
    /// <param name="delimiter">The delimiter; not empty.</param>
    /// <param name="stripDelimiter">Whether frames are returned without their delimiter.</param>
    /// <param name="maxFrameLength">The most bytes one frame may occupy, delimiter included.</param>
    public DelimiterFrameReader(ReadOnlySpan<byte> delimiter, bool stripDelimiter = true, int maxFrameLength = ProtocolDefaults.MaxMessageSize)
        : this([delimiter.ToArray()], stripDelimiter, maxFrameLength, nameof(delimiter))
    {
    }

    private DelimiterFrameReader(byte[][] delimiters, bool stripDelimiter, int maxFrameLength, string paramName)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrameLength);
        if (delimiters.Length == 0)
        {
            ThrowHelper.ThrowArgumentException("At least one delimiter is required.", paramName);
        }

        foreach (var delimiter in delimiters)
        {
            if (delimiter is null || delimiter.Length == 0)
            {
                ThrowHelper.ThrowArgumentException("A delimiter must not be empty.", paramName);
            }
        }

        _delimiters = delimiters;
        foreach (var delimiter in delimiters)
        {
            _longestDelimiter = Math.Max(_longestDelimiter, delimiter.Length);
        }

        StripDelimiter = stripDelimiter;
        MaxFrameLength = maxFrameLength;
    }

    /// <summary>Creates a reader for frames ended by any of several delimiters.</summary>
    /// <param name="delimiters">The delimiters; at least one, none empty. They are copied.</param>
    /// <param name="stripDelimiter">Whether frames are returned without their delimiter.</param>
    /// <param name="maxFrameLength">The most bytes one frame may occupy, delimiter included.</param>
    /// <returns>A new reader.</returns>
    public static DelimiterFrameReader Create(IEnumerable<byte[]> delimiters, bool stripDelimiter = true, int maxFrameLength = ProtocolDefaults.MaxMessageSize)
    {
        ArgumentNullException.ThrowIfNull(delimiters);
        var copies = new List<byte[]>();
        foreach (var delimiter in delimiters)
        {
            copies.Add(delimiter is null ? [] : (byte[])delimiter.Clone());
        }

        return new DelimiterFrameReader([.. copies], stripDelimiter, maxFrameLength, nameof(delimiters));
    }

    /// <summary>A reader for text lines ended by <c>\r\n</c> or <c>\n</c>.</summary>
    /// <param name="stripDelimiter">Whether lines are returned without their line ending.</param>
    /// <param name="maxFrameLength">The most bytes one line may occupy, line ending included.</param>
    /// <returns>A new reader.</returns>
    public static DelimiterFrameReader Lines(bool stripDelimiter = true, int maxFrameLength = ProtocolDefaults.MaxMessageSize) =>
        new([[(byte)'\r', (byte)'\n'], [(byte)'\n']], stripDelimiter, maxFrameLength, nameof(maxFrameLength));

    /// <summary>Whether frames are returned without their delimiter.</summary>
    public bool StripDelimiter { get; }

    /// <summary>The most bytes one frame may occupy, delimiter included.</summary>
    public int MaxFrameLength { get; }

    /// <inheritdoc />
    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out ReadOnlySequence<byte> message)
    {
        var state = default(MessageReaderState);
        return TryParseMessage(input, ref state, ref consumed, ref examined, out message);
    }

    /// <inheritdoc />
    /// <remarks>
    /// For an incomplete frame <paramref name="state"/> holds how far the input has been searched (no delimiter starts
    /// before <see cref="MessageReaderState.Offset"/>), so a frame trickled in many reads is searched once in all.
    /// </remarks>
    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref MessageReaderState state, ref SequencePosition consumed, ref SequencePosition examined, out ReadOnlySequence<byte> message)
    {
        var searched = state.Offset;
        var rest = state.SliceFromOffset(input);
        long best = -1;
        var bestLength = 0;
        foreach (var delimiter in _delimiters)
        {
            // Only a match that starts no later than the best so far can win, so later searches look at less.
            var limit = best < 0 ? rest.Length : Math.Min(rest.Length, best + delimiter.Length);
            var index = IndexOf(rest, delimiter, limit);
            if (index >= 0 && (best < 0 || index < best || (index == best && delimiter.Length > bestLength)))
            {
                best = index;
                bestLength = delimiter.Length;
            }
        }

        message = default;
        if (best < 0)
        {
            // No delimiter yet: whatever frame is coming ends beyond the buffered bytes.
            if (input.Length >= MaxFrameLength)
            {
                ThrowHelper.ThrowFrameTooLarge(input.Length + 1, MaxFrameLength);
            }

            // Every delimiter fits before the last (longest - 1) bytes, so none starts there; the rest may be the
            // start of one. Where they lie in the last segment, their position is at hand for the next call.
            var resume = input.Length - (_longestDelimiter - 1);
            if (resume > searched)
            {
                var last = input.End;
                var fromEnd = _longestDelimiter - 1;
                if (!input.IsSingleSegment && fromEnd <= last.GetInteger())
                {
                    state.SetOffset(resume, new SequencePosition(last.GetObject(), last.GetInteger() - fromEnd));
                }
                else
                {
                    state.Offset = resume;
                }
            }

            return false;
        }

        best += searched;

        // Only a delimiter that starts within the last few bytes can still be arriving; one delimiter never can.
        if (_delimiters.Length > 1 && input.Length - best < _longestDelimiter && MayStillBeOutdone(input, best, bestLength))
        {
            state.Offset = best;
            return false;
        }

        var frameEnd = best + bestLength;
        if (frameEnd > MaxFrameLength)
        {
            ThrowHelper.ThrowFrameTooLarge(frameEnd, MaxFrameLength);
        }

        var end = input.GetPosition(frameEnd);
        message = input.Slice(input.Start, StripDelimiter ? input.GetPosition(best) : end);
        consumed = end;
        examined = end;
        return true;
    }

    // Whether the buffer ends with the start of a delimiter that would beat the match at `best`: one that starts
    // earlier, or at the same byte and is longer. Found by fuzzing: deciding early made "a\r" + "\n" two frames ("a"
    // and an empty one) where "a\r\n" in one read is one.
    private bool MayStillBeOutdone(in ReadOnlySequence<byte> input, long best, int bestLength)
    {
        var tailStart = Math.Max(0, input.Length - _longestDelimiter + 1);
        var tailLength = (int)(input.Length - tailStart);
        Span<byte> tail = tailLength <= 64 ? stackalloc byte[tailLength] : new byte[tailLength];
        input.Slice(tailStart).CopyTo(tail);
        foreach (var delimiter in _delimiters)
        {
            for (var start = Math.Max(tailStart, input.Length - delimiter.Length + 1); start <= best; start++)
            {
                if ((start < best || delimiter.Length > bestLength) && delimiter.AsSpan().StartsWith(tail[(int)(start - tailStart)..]))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static long IndexOf(in ReadOnlySequence<byte> input, byte[] delimiter, long limit)
    {
        if (input.IsSingleSegment)
        {
            var span = input.FirstSpan;
            if (limit < span.Length)
            {
                span = span[..(int)limit];
            }

            return IndexOf(span, delimiter);
        }

        var reader = new SequenceReader<byte>(limit < input.Length ? input.Slice(0, limit) : input);
        var found = delimiter.Length == 1
            ? reader.TryAdvanceTo(delimiter[0], advancePastDelimiter: false)
            : reader.TryReadTo(out ReadOnlySequence<byte> _, delimiter, advancePastDelimiter: false);
        return found ? reader.Consumed : -1;
    }

    // Scans for the delimiter's first byte at full vector speed, then checks the rest: faster than a general substring
    // search for the short delimiters protocols use.
    private static int IndexOf(ReadOnlySpan<byte> span, byte[] delimiter)
    {
        var first = delimiter[0];
        if (delimiter.Length == 1)
        {
            return span.IndexOf(first);
        }

        var rest = delimiter.AsSpan(1);
        var offset = 0;
        while (true)
        {
            var index = span[offset..].IndexOf(first);
            if (index < 0)
            {
                return -1;
            }

            index += offset;
            if (span[(index + 1)..].StartsWith(rest))
            {
                return index;
            }

            offset = index + 1;
        }
    }
}
