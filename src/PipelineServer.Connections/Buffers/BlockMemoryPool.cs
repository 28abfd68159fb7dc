using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using PipelineServer.Internal;

namespace PipelineServer.Buffers;

/// <summary>
/// A pool of fixed-size blocks of pinned memory for transports' pipes. Large blocks are the point: a socket receive can
/// fill no more than the block it is given, so with Kestrel's default 4 KiB blocks a 4 KiB message costs two receive
/// calls and lands split across segments; with larger blocks one receive brings several messages. The blocks are
/// pinned arrays (on the pinned object heap), so pinning them for a socket operation costs nothing and sends can use
/// the array directly.
/// </summary>
/// <remarks>
/// Returned blocks are kept for reuse. Every trim interval the pool lets go of the free blocks that the busiest moment
/// of the interval did not need, so a burst does not hold its memory for ever. Once disposed, returned blocks go to the
/// garbage collector.
/// </remarks>
internal sealed class BlockMemoryPool : MemoryPool<byte>
{
    /// <summary>The block size when none is given: 16 KiB.</summary>
    public const int DefaultBlockSize = 16 * 1024;

    private static readonly TimeSpan s_trimInterval = TimeSpan.FromSeconds(10);

    private readonly ConcurrentQueue<Block> _free = new();
    private readonly int _blockSize;
    private readonly ITimer _trimTimer;
    private long _outstanding;
    private long _peak;
    private volatile bool _disposed;

    public BlockMemoryPool(int blockSize = DefaultBlockSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1024);
        _blockSize = blockSize;

        _trimTimer = WeakTimer.Start(TimeProvider.System, this, static pool => pool.Trim(), s_trimInterval);
    }

    /// <inheritdoc />
    public override int MaxBufferSize => _blockSize;

    /// <summary>Blocks currently rented.</summary>
    public long Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>Free blocks kept for reuse.</summary>
    public int Retained => _free.Count;

    /// <inheritdoc />
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, _blockSize);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var outstanding = Interlocked.Increment(ref _outstanding);
        if (outstanding > Volatile.Read(ref _peak))
        {
            // Racy, and need not be exact: it only sizes the next trim.
            Volatile.Write(ref _peak, outstanding);
        }

        return _free.TryDequeue(out var block) ? block : new Block(this, _blockSize);
    }

    /// <summary>Drops the free blocks beyond what the busiest moment since the last trim needed on top of the blocks out now.</summary>
    public void Trim()
    {
        var outstanding = Volatile.Read(ref _outstanding);
        var keep = Math.Max(0, Volatile.Read(ref _peak) - outstanding);
        for (var excess = _free.Count - keep; excess > 0 && _free.TryDequeue(out _); excess--)
        {
        }

        Volatile.Write(ref _peak, outstanding);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        _trimTimer.Dispose();
        _free.Clear();
    }

    private void Return(Block block)
    {
        Interlocked.Decrement(ref _outstanding);
        if (!_disposed)
        {
            _free.Enqueue(block);
        }
    }

    private sealed class Block : IMemoryOwner<byte>
    {
        private readonly BlockMemoryPool _pool;

        public Block(BlockMemoryPool pool, int size)
        {
            _pool = pool;
            Memory = MemoryMarshal.CreateFromPinnedArray(GC.AllocateUninitializedArray<byte>(size, pinned: true), 0, size);
        }

        public Memory<byte> Memory { get; }

        // The pipe disposes each segment's block exactly once, when it has been read.
        public void Dispose() => _pool.Return(this);
    }
}
