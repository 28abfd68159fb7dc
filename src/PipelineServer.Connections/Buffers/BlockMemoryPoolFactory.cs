using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace PipelineServer.Buffers;

/// <summary>
/// Kestrel's socket transport asks this service (when registered last) for the pools behind its connections' pipes:
/// PipelineServer's standalone host registers it so that protocol connections read in <see cref="BlockMemoryPool"/>
/// blocks rather than Kestrel's 4 KiB ones.
/// </summary>
internal sealed class BlockMemoryPoolFactory(int blockSize = BlockMemoryPool.DefaultBlockSize) : IMemoryPoolFactory<byte>
{
    /// <summary>The size of the blocks of the pools it creates.</summary>
    public int BlockSize { get; } = blockSize;

    /// <inheritdoc />
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new BlockMemoryPool(BlockSize);
}
