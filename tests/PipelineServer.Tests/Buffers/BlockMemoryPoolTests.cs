using System.Runtime.InteropServices;
using PipelineServer.Buffers;

namespace PipelineServer.Tests.Buffers;

public class BlockMemoryPoolTests
{
    [Fact]
    public void BlocksAreWholeArraysOfTheBlockSizeWhateverSizeIsAskedFor()
    {
        using var pool = new BlockMemoryPool(8192);

        using var small = pool.Rent(1);
        using var unspecified = pool.Rent();
        using var exact = pool.Rent(8192);

        Assert.Equal(8192, pool.MaxBufferSize);
        foreach (var block in new[] { small, unspecified, exact })
        {
            Assert.Equal(8192, block.Memory.Length);
            Assert.True(MemoryMarshal.TryGetArray<byte>(block.Memory, out var array), "sends need array-backed memory");
            Assert.Equal(8192, array.Count);
        }
    }

    [Fact]
    public void MoreThanABlockIsRefused()
    {
        using var pool = new BlockMemoryPool(4096);

        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(4097));
    }

    [Fact]
    public void AReturnedBlockIsReusedAndOutstandingBlocksAreCounted()
    {
        using var pool = new BlockMemoryPool(4096);
        var first = pool.Rent();
        var second = pool.Rent();
        Assert.Equal(2, pool.Outstanding);
        MemoryMarshal.TryGetArray<byte>(first.Memory, out var firstArray);

        first.Dispose();
        Assert.Equal(1, pool.Outstanding);
        Assert.Equal(1, pool.Retained);
        var again = pool.Rent();

        MemoryMarshal.TryGetArray<byte>(again.Memory, out var againArray);
        Assert.Same(firstArray.Array, againArray.Array);
        Assert.Equal(0, pool.Retained);
        second.Dispose();
        again.Dispose();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void TrimmingKeepsWhatTheBusiestMomentNeededAndThenLetsTheRestGo()
    {
        using var pool = new BlockMemoryPool(4096);
        var burst = Enumerable.Range(0, 10).Select(_ => pool.Rent()).ToList();
        foreach (var block in burst.Take(8))
        {
            block.Dispose();
        }

        // The burst needed 10 blocks and 2 are still out: the 8 free ones may be needed again by a burst like it.
        pool.Trim();
        Assert.Equal(8, pool.Retained);

        // A quiet interval (never more than the 2 out): its trim lets the 8 go.
        pool.Trim();
        Assert.Equal(0, pool.Retained);
        Assert.Equal(2, pool.Outstanding);
        foreach (var block in burst.Skip(8))
        {
            block.Dispose();
        }
    }

    [Fact]
    public void ADisposedPoolRefusesRentsAndDropsReturnedBlocks()
    {
        var pool = new BlockMemoryPool(4096);
        var block = pool.Rent();

        pool.Dispose();
        block.Dispose();

        Assert.Equal(0, pool.Retained);
        Assert.Throws<ObjectDisposedException>(() => pool.Rent());
    }

    [Fact]
    public void BlocksSmallerThanAReceiveAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new BlockMemoryPool(512));
    }
}
