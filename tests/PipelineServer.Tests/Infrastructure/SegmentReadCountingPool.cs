namespace PipelineServer.Tests.Infrastructure;

/// <summary>
/// A memory pool whose blocks count every time their bytes are looked at: each <c>Memory.Span</c> of a pipe segment
/// (a <see cref="SequenceReader{T}"/> entering a segment, <c>FirstSpan</c>, <c>CopyTo</c>, a search) is one read. Given to
/// a pipe, it measures how much of the buffered input a parser examines, deterministically: a parser that resumes where
/// it stopped reads a few segments per arrival, one that walks everything buffered reads them all each time.
/// </summary>
/// <remarks>Test-only: its blocks cannot be pinned, so it is for pipes read and written in memory, not by sockets.</remarks>
internal sealed class SegmentReadCountingPool(int blockSize) : MemoryPool<byte>
{
    private long _reads;

    public override int MaxBufferSize => blockSize;

    /// <summary>Segment reads so far (writes into blocks count too: measure around reads).</summary>
    public long Reads => _reads;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1) => new Block(this, new byte[blockSize]);

    protected override void Dispose(bool disposing)
    {
    }

    private sealed class Block(SegmentReadCountingPool pool, byte[] array) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan()
        {
            pool._reads++;
            return array;
        }

        public override MemoryHandle Pin(int elementIndex = 0) => throw new NotSupportedException("Test blocks cannot be pinned.");

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
