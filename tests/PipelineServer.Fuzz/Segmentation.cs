namespace PipelineServer.Fuzz;

/// <summary>
/// How a stream reaches a parser: the size of the pipe's memory blocks (so buffers span many segments, as after a run
/// of small network reads) and the size of each write (one arrival from the network, after which the reader runs).
/// </summary>
/// <param name="BlockSize">The pipe's block size: segment boundaries fall every <paramref name="BlockSize"/> bytes.</param>
/// <param name="ChunkMode">0: the whole stream in one write; 1-6: writes of 1, 2, 3, 7, 16 or 64 bytes; 7: pseudo-random sizes.</param>
/// <param name="Seed">Varies the pseudo-random sizes of mode 7.</param>
public readonly record struct Segmentation(int BlockSize, int ChunkMode, int Seed)
{
    private static ReadOnlySpan<int> BlockSizes => [1, 2, 3, 5, 8, 16, 64, 4096];

    private static ReadOnlySpan<int> FixedChunkSizes => [int.MaxValue, 1, 2, 3, 7, 16, 64];

    /// <summary>The whole stream in one write, in 4 KiB blocks: the reference run other segmentations are compared to.</summary>
    public static Segmentation Whole { get; } = new(4096, 0, 0);

    /// <summary>Bits 0-2 choose the block size, bits 3-5 the chunk mode, bits 6-7 the seed.</summary>
    /// <param name="value">The input's first byte.</param>
    /// <returns>The segmentation.</returns>
    public static Segmentation FromByte(byte value) => new(BlockSizes[value & 7], (value >> 3) & 7, value >> 6);

    /// <summary>The sizes of the writes that deliver <paramref name="length"/> bytes, in order.</summary>
    /// <param name="length">The stream's length.</param>
    /// <returns>Chunk sizes, each at least 1, adding up to <paramref name="length"/>.</returns>
    public List<int> ChunkSizes(int length)
    {
        var sizes = new List<int>();
        var state = (uint)(Seed + 1) * 0x9E3779B9u;
        for (var offset = 0; offset < length;)
        {
            int size;
            if (ChunkMode < FixedChunkSizes.Length)
            {
                size = FixedChunkSizes[ChunkMode];
            }
            else
            {
                // xorshift32: cheap, deterministic, and varied enough to put boundaries everywhere in a header.
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                size = 1 + (int)(state % 32);
            }

            size = Math.Min(size, length - offset);
            sizes.Add(size);
            offset += size;
        }

        return sizes;
    }
}
