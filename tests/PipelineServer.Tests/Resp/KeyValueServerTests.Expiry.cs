using System.Text;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Resp;

/// <summary>Active expiry: driven by a fake clock, one cycle per 100 ms of it, never by waiting.</summary>
public partial class KeyValueServerTests
{
    // A walk over the keys with an expiry takes at most 300 cycles; a key is looked at within two walks.
    private const int TwoWalks = 2 * 300;

    [Fact]
    public async Task ActiveExpiryReclaimsEveryExpiredKeyBehindLongLivedOnesAndKeepsTheLiveOnes()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (host, store) = await StartAsync(TransportKind.Memory, time);
        await using var _ = host;
        using var __ = store;
        await using var client = await host.ConnectAsync();

        await SetManyAsync(client, 20_000, static i => $"SET live:{i} v\r\n");
        await SetManyAsync(client, 20_000, static i => $"SET ttl:{i} v EX 3600\r\n");
        await SetManyAsync(client, 99_000, static i => $"SET short:{i} v PX 500\r\n");
        Assert.Equal(139_000, store.Count);
        Assert.Equal(119_000, store.ExpiringCount); // keys without an expiry are not in the index active expiry walks

        // Each 100 ms of the fake clock runs one cycle; the short keys expire at the fifth.
        var cycles = 0;
        while (store.Count > 40_000 && cycles < TwoWalks + 5)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            cycles++;
        }

        Assert.Equal(40_000, store.Count);
        Assert.InRange(cycles, 5, TwoWalks + 5);
        Assert.Equal(20_000, store.ExpiringCount);
        await ExpectAsync(client, "DBSIZE\r\nEXISTS live:0 live:19999 ttl:0 ttl:19999\r\nTTL live:7\r\n", ":40000\r\n:4\r\n:-1\r\n");
    }

    [Fact]
    public async Task AnExpiryCycleLooksAtFewKeysWhenFewExpiredAndStopsAtItsTimeBudget()
    {
        var time = new TickingTimeProvider(DateTimeOffset.UtcNow);
        var (host, store) = await StartAsync(TransportKind.Memory, time);
        await using var _ = host;
        using var __ = store;
        await using var client = await host.ConnectAsync();

        // Nothing expired: a cycle looks at 20 keys or 1/300 of those with an expiry, whichever is more, and stops.
        await SetManyAsync(client, 30_000, static i => $"SET ttl:{i} v EX 3600\r\n");
        var looked = store.ExpiryKeysLooked;
        Assert.Equal(0, store.RunExpiryCycle());
        Assert.Equal(30_000 / 300, store.ExpiryKeysLooked - looked);

        // Half of them expired (a time in the past is accepted, as by Redis): the cycle goes on past its 1/300 while more
        // than 10% of what it saw was expired, until its 25 ms budget is spent. This clock's timestamp moves 1 ms each
        // time it is read, and a cycle reads it once per 20 keys: 25 reads, 500 keys.
        await SetManyAsync(client, 30_000, static i => $"SET short:{i} v PXAT 1\r\n");
        looked = store.ExpiryKeysLooked;
        var removed = store.RunExpiryCycle();
        Assert.Equal(25 * 20, store.ExpiryKeysLooked - looked);
        Assert.InRange(removed, 1, 25 * 20);
        Assert.Equal(60_000 - removed, store.Count);
    }

    private static async Task SetManyAsync(TestClient client, int count, Func<int, string> command)
    {
        const int Batch = 1_000;
        for (var start = 0; start < count; start += Batch)
        {
            var end = Math.Min(count, start + Batch);
            var request = new StringBuilder();
            for (var i = start; i < end; i++)
            {
                request.Append(command(i));
            }

            await client.SendAsync(Encoding.ASCII.GetBytes(request.ToString()));
            var replies = await client.ReceiveExactlyAsync((end - start) * "+OK\r\n".Length);
            Assert.Equal(string.Concat(Enumerable.Repeat("+OK\r\n", end - start)), Encoding.ASCII.GetString(replies));
        }
    }

    // A fake clock whose timestamp moves on 1 ms at every read (its wall-clock time moves only when told), so a cycle's
    // time budget runs out after a known amount of work.
    private sealed class TickingTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
    {
        private long _reads;

        public override long GetTimestamp() =>
            base.GetTimestamp() + (Interlocked.Increment(ref _reads) * (TimestampFrequency / 1000));
    }
}
