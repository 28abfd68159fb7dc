using System.Buffers;

namespace PipelineServer.Testing;

/// <summary>
/// A memory pool for tests that counts the blocks it hands out, so a test can check that every block came back
/// (no leaked pipe buffers), and that can make blocks tiny, so that pipes produce many-segment buffers.
/// </summary>
/// <remarks>
/// Give it to a pipe with <c>new PipeOptions(pool: pool, minimumSegmentSize: 1)</c>. Returned blocks are filled with
/// <c>0xDD</c>, so a message read after its buffer was released shows up as garbage in the test, not as a silent pass.
/// </remarks>
public sealed class TestMemoryPool : MemoryPool<byte>
{
    private readonly int _blockSize;
    private int _outstanding;
    private int _rented;
    private bool _disposed;

    /// <summary>Creates a pool.</summary>
    /// <param name="blockSize">The size of every block, and the pool's <see cref="MaxBufferSize"/>.</param>
    public TestMemoryPool(int blockSize = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        _blockSize = blockSize;
    }

    /// <inheritdoc />
    public override int MaxBufferSize => _blockSize;

    /// <summary>Blocks rented and not yet returned.</summary>
    public int OutstandingBlocks => Volatile.Read(ref _outstanding);

    /// <summary>Blocks rented since the pool was created.</summary>
    public int RentedBlocks => Volatile.Read(ref _rented);

    /// <inheritdoc />
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (minBufferSize > _blockSize)
        {
            throw new ArgumentOutOfRangeException(nameof(minBufferSize), minBufferSize, $"This pool's blocks are {_blockSize} bytes.");
        }

        Interlocked.Increment(ref _outstanding);
        Interlocked.Increment(ref _rented);
        return new Block(this, new byte[_blockSize]);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => _disposed = true;

    private sealed class Block : IMemoryOwner<byte>
    {
        private readonly TestMemoryPool _pool;
        private byte[]? _array;

        public Block(TestMemoryPool pool, byte[] array)
        {
            _pool = pool;
            _array = array;
        }

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Block), "This block was returned to the pool.");

        public void Dispose()
        {
            var array = Interlocked.Exchange(ref _array, null);
            if (array is null)
            {
                throw new InvalidOperationException("A block was returned to the pool twice.");
            }

            array.AsSpan().Fill(0xDD);
            Interlocked.Decrement(ref _pool._outstanding);
        }
    }
}
