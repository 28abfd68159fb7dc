using System.Buffers;

namespace PipelineServer.Benchmarks;

internal static class FrameData
{
    /// <summary>Splits a stream into segments of an odd size, so frames and headers straddle segment boundaries.</summary>
    public static ReadOnlySequence<byte> Segment(byte[] stream, bool multiSegment)
    {
        if (!multiSegment)
        {
            return new ReadOnlySequence<byte>(stream);
        }

        const int SegmentSize = 4093;
        BufferSegment? first = null;
        BufferSegment? last = null;
        for (var offset = 0; offset < stream.Length; offset += SegmentSize)
        {
            var memory = stream.AsMemory(offset, Math.Min(SegmentSize, stream.Length - offset));
            if (first is null)
            {
                first = last = new BufferSegment(memory, 0);
            }
            else
            {
                last = last!.Append(memory);
            }
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class BufferSegment : ReadOnlySequenceSegment<byte>
    {
        public BufferSegment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public BufferSegment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new BufferSegment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
