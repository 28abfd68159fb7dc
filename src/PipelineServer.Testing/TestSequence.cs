using System.Buffers;

namespace PipelineServer.Testing;

/// <summary>
/// Builds multi-segment <see cref="ReadOnlySequence{T}"/> values, so that a codec can be tested on input split at any
/// point, as it arrives from a network.
/// </summary>
public static class TestSequence
{
    /// <summary>Joins the given segments into one sequence. Each segment is copied into its own array.</summary>
    /// <param name="segments">The segments, in order. Empty segments are kept, as pipes can produce them.</param>
    /// <returns>A sequence with one segment per argument.</returns>
    public static ReadOnlySequence<byte> Create(params ReadOnlyMemory<byte>[] segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        if (segments.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        if (segments.Length == 1)
        {
            return new ReadOnlySequence<byte>(segments[0].ToArray());
        }

        var first = new Segment(segments[0].ToArray(), 0);
        var last = first;
        for (var i = 1; i < segments.Length; i++)
        {
            last = last.Append(segments[i].ToArray());
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Splits <paramref name="data"/> at the given offsets.</summary>
    /// <param name="data">The bytes.</param>
    /// <param name="splitPoints">Offsets in ascending order, each between 0 and the length of the data.</param>
    /// <returns>A sequence of <c>splitPoints.Length + 1</c> segments.</returns>
    public static ReadOnlySequence<byte> Split(ReadOnlyMemory<byte> data, params int[] splitPoints)
    {
        ArgumentNullException.ThrowIfNull(splitPoints);
        var segments = new ReadOnlyMemory<byte>[splitPoints.Length + 1];
        var start = 0;
        for (var i = 0; i < splitPoints.Length; i++)
        {
            var point = splitPoints[i];
            if (point < start || point > data.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(splitPoints), point, "Split points must be ascending and within the data.");
            }

            segments[i] = data[start..point];
            start = point;
        }

        segments[^1] = data[start..];
        return Create(segments);
    }

    /// <summary>Cuts <paramref name="data"/> into segments of <paramref name="segmentSize"/> bytes (the last may be shorter).</summary>
    /// <param name="data">The bytes.</param>
    /// <param name="segmentSize">The segment size; at least 1.</param>
    /// <returns>The segmented sequence.</returns>
    public static ReadOnlySequence<byte> Chunk(ReadOnlyMemory<byte> data, int segmentSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(segmentSize);
        var count = Math.Max(1, (data.Length + segmentSize - 1) / segmentSize);
        var segments = new ReadOnlyMemory<byte>[count];
        for (var i = 0; i < count; i++)
        {
            var start = i * segmentSize;
            segments[i] = data[start..Math.Min(data.Length, start + segmentSize)];
        }

        return Create(segments);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
