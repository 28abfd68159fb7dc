using Microsoft.Extensions.Time.Testing;
using PipelineServer.Resp;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Resp;

/// <summary>APPEND: values grow with spare capacity, so repeated appends copy a value a few times, not once each.</summary>
public partial class KeyValueServerTests
{
    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task FourThousandAppendsOfFourKibibytesMoveTheValueOnlyAFewTimes(TransportKind transport)
    {
        const int Appends = 4096;
        const int Chunk = 4096;
        var (host, store) = await StartAsync(transport);
        await using var _ = host;
        using var __ = store;
        await using var client = await RespClient.ConnectAsync(host.ClientFactory(), host.EndPoint, cancellationToken: Timeout);
        var key = "log"u8.ToArray();

        // Chunk i is filled with one letter, so the value shows whether every chunk landed whole and in order.
        for (var batch = 0; batch < Appends; batch += 64)
        {
            var replies = await Task.WhenAll(Enumerable.Range(batch, 64).Select(i =>
                client.RequestAsync(new RespRequest("APPEND"u8.ToArray(), key, Filled(Chunk, Letter(i))), Timeout).AsTask()));
            for (var i = 0; i < replies.Length; i++)
            {
                Assert.Equal((long)(batch + i + 1) * Chunk, replies[i].GetInteger());
            }
        }

        // Doubling to 1 MiB, then a quarter more each time: about 20 moves to reach 16 MiB, where copying the value on
        // every append moved it 4,095 times.
        Assert.InRange(store.ValueGrowths, 1, 24);
        Assert.True(store.TryGet(key, out var entry));
        Assert.InRange(entry.Capacity - entry.Length, 0, entry.Length / 4); // spare room past 1 MiB: at most a quarter

        var value = (await client.RequestAsync(RespRequest.Command("GET", "log"), Timeout)).Payload.ToArray();
        Assert.Equal(Appends * Chunk, value.Length);
        for (var i = 0; i < Appends; i++)
        {
            Assert.True(value.AsSpan(i * Chunk, Chunk).IndexOfAnyExcept(Letter(i)) < 0, $"chunk {i}");
        }

        Assert.Equal(Appends * Chunk, (await client.RequestAsync(RespRequest.Command("STRLEN", "log"), Timeout)).GetInteger());
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AnAppendedValueReadsAsItsBytesOnlyAndOtherWritesDropItsSpareRoom(TransportKind transport)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (host, store) = await StartAsync(transport, time);
        await using var _ = host;
        using var __ = store;
        await using var client = await host.ConnectAsync();

        // A new key is exactly its value; the first append moves it to a bigger array, the next one writes in place.
        await ExpectAsync(client, "APPEND k abc\r\nAPPEND k de\r\nAPPEND k f\r\n", ":3\r\n:5\r\n:6\r\n");
        Assert.Equal(1, store.ValueGrowths);
        Assert.True(store.TryGet("k"u8, out var grown));
        Assert.True(grown.Capacity > grown.Length);
        await ExpectAsync(client, "GET k\r\nSTRLEN k\r\nMGET k k\r\n*3\r\n$6\r\nAPPEND\r\n$1\r\nk\r\n$0\r\n\r\n", "$6\r\nabcdef\r\n:6\r\n*2\r\n$6\r\nabcdef\r\n$6\r\nabcdef\r\n:6\r\n");

        // SET replaces the value and its spare room.
        await ExpectAsync(client, "SET k xy\r\nGET k\r\n", "+OK\r\n$2\r\nxy\r\n");
        Assert.True(store.TryGet("k"u8, out var replaced));
        Assert.Equal(replaced.Length, replaced.Capacity);

        // INCR reads only the appended digits; APPEND keeps the expiry and EXPIRE keeps the bytes.
        await ExpectAsync(client, "APPEND n 1\r\nAPPEND n 2\r\nINCR n\r\nGET n\r\n", ":1\r\n:2\r\n:13\r\n$2\r\n13\r\n");
        await ExpectAsync(client, "SET t a EX 100\r\nAPPEND t b\r\nAPPEND t c\r\nTTL t\r\nPEXPIRE t 5000\r\nGET t\r\n", "+OK\r\n:2\r\n:3\r\n:100\r\n:1\r\n$3\r\nabc\r\n");

        // Appending to an expired key starts a new value, without the expiry.
        time.Advance(TimeSpan.FromSeconds(6));
        await ExpectAsync(client, "APPEND t z\r\nGET t\r\nTTL t\r\n", ":1\r\n$1\r\nz\r\n:-1\r\n");
    }

    [Fact]
    public async Task ConcurrentAppendsAndExpiryChangesOnOneKeyLoseNoByte()
    {
        const int Writers = 4;
        const int Appends = 500;
        const int Chunk = 100;
        var (host, store) = await StartAsync(TransportKind.Sockets);
        await using var _ = host;
        using var __ = store;
        var clients = new List<PipelineServer.Client.ProtocolClient<RespRequest, RespValue>>();
        for (var i = 0; i <= Writers; i++)
        {
            clients.Add(await RespClient.ConnectAsync(host.ClientFactory(), host.EndPoint, cancellationToken: Timeout));
        }

        try
        {
            // Each writer appends chunks of its own letter; one more connection keeps rewriting the key's expiry, which
            // replaces the entry (a compare-and-swap that must not succeed over an append it did not see).
            var key = "shared"u8.ToArray();
            var writers = Enumerable.Range(0, Writers).Select(async w =>
            {
                var chunk = Filled(Chunk, Letter(w));
                for (var i = 0; i < Appends; i++)
                {
                    await clients[w].RequestAsync(new RespRequest("APPEND"u8.ToArray(), key, chunk), Timeout);
                }
            });
            var expiries = Task.Run(async () =>
            {
                for (var i = 0; i < Appends; i++)
                {
                    await clients[Writers].RequestAsync(RespRequest.Command("PEXPIRE", "shared", "1000000"), Timeout);
                }
            });
            await Task.WhenAll(writers.Append(expiries));

            var value = (await clients[0].RequestAsync(RespRequest.Command("GET", "shared"), Timeout)).Payload.ToArray();
            Assert.Equal(Writers * Appends * Chunk, value.Length);
            var counts = new int[Writers];
            for (var offset = 0; offset < value.Length; offset += Chunk)
            {
                var block = value.AsSpan(offset, Chunk);
                Assert.True(block.IndexOfAnyExcept(block[0]) < 0, $"a torn chunk at {offset}");
                counts[block[0] - 'a']++;
            }

            Assert.All(counts, static count => Assert.Equal(Appends, count));
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AnAppendPastTheBulkLimitGetsRedissErrorAndChangesNothing(TransportKind transport)
    {
        var (host, store) = await StartAsync(transport, limits: new RespLimits { MaxBulkLength = 16 });
        await using var _ = host;
        using var __ = store;
        await using var client = await host.ConnectAsync();

        await ExpectAsync(
            client,
            "APPEND k 0123456789\r\nAPPEND k abcdefg\r\nGET k\r\nAPPEND k abcdef\r\nAPPEND k x\r\nSTRLEN k\r\nPING\r\n",
            ":10\r\n-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n$10\r\n0123456789\r\n:16\r\n" +
            "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n:16\r\n+PONG\r\n");
        Assert.Empty(host.Errors);
    }

    private static byte Letter(int i) => (byte)('a' + (i % 26));

    private static byte[] Filled(int length, byte letter)
    {
        var bytes = new byte[length];
        bytes.AsSpan().Fill(letter);
        return bytes;
    }
}
