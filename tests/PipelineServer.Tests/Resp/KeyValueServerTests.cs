using System.Diagnostics;
using System.Net;
using System.Text;
using KeyValueServer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Resp;
using PipelineServer.Tests.Infrastructure;
using StackExchange.Redis;

namespace PipelineServer.Tests.Resp;

/// <summary>The Redis-compatible sample over both transports, byte for byte, and with clients nobody here wrote.</summary>
public partial class KeyValueServerTests
{
    private static async Task<(TestHost Host, KeyValueStore Store)> StartAsync(TransportKind transport, TimeProvider? time = null, RespLimits? limits = null)
    {
        var store = new KeyValueStore(time);
        var host = await TestHost.StartAsync(transport, listen => listen.UseResp(KeyValueCommands.CreateDispatcher(store, limits), limits));
        return (host, store);
    }

    private static CancellationToken Timeout => new CancellationTokenSource(TestClient.Timeout).Token;

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    private static async Task<string> ExchangeAsync(TestClient client, string request, int replyLength)
    {
        await client.SendAsync(Ascii(request));
        return Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(replyLength));
    }

    private static async Task ExpectAsync(TestClient client, string request, string reply) =>
        Assert.Equal(reply, await ExchangeAsync(client, request, reply.Length));

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AnswersAPipelinedBatchOfCommandsInRedissFormats(TransportKind transport)
    {
        var (host, store) = await StartAsync(transport);
        await using var _ = host;
        using var __ = store;
        await using var client = await host.ConnectAsync();

        const string Request =
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n10\r\n" +
            "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n" +
            "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" +
            "*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n" +
            "*3\r\n$6\r\nINCRBY\r\n$1\r\nk\r\n$3\r\nabc\r\n" +
            "*1\r\n$3\r\nGET\r\n" +
            "*2\r\n$4\r\nNOPE\r\n$1\r\nx\r\n" +
            "*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n" +
            "*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nz\r\n$1\r\nb\r\n" +
            "*3\r\n$6\r\nEXISTS\r\n$1\r\na\r\n$1\r\nz\r\n" +
            "PING\r\n";
        const string Reply =
            "+OK\r\n" +
            ":11\r\n" +
            "$2\r\n11\r\n" +
            "$-1\r\n" +
            "-ERR value is not an integer or out of range\r\n" +
            "-ERR wrong number of arguments for 'get' command\r\n" +
            "-ERR unknown command 'NOPE', with args beginning with: 'x' \r\n" +
            "+OK\r\n" +
            "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n" +
            ":1\r\n" +
            "+PONG\r\n";

        Assert.Equal(Reply, await ExchangeAsync(client, Request, Reply.Length));
        Assert.Equal(3, store.Count);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task Hello3SwitchesTheConnectionToResp3(TransportKind transport)
    {
        var (host, store) = await StartAsync(transport);
        await using var _ = host;
        using var __ = store;
        await using var client = await host.ConnectAsync();

        var hello = await ExchangeAsync(client, "HELLO 3\r\n", "%7\r\n".Length);
        Assert.Equal("%7\r\n", hello);
        var rest = "$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n";
        Assert.Equal(rest, Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(rest.Length)));

        // Skip the id's value and the rest of the map, then see RESP3's null.
        await client.SendAsync(Ascii("*2\r\n$3\r\nGET\r\n$1\r\nx\r\n"));
        var tail = new StringBuilder();
        while (!tail.ToString().EndsWith("_\r\n", StringComparison.Ordinal))
        {
            tail.Append(Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(1)));
        }

        Assert.EndsWith("$7\r\nmodules\r\n*0\r\n_\r\n", tail.ToString(), StringComparison.Ordinal);
        Assert.Equal("-NOPROTO unsupported protocol version\r\n", await ExchangeAsync(client, "HELLO 4\r\n", "-NOPROTO unsupported protocol version\r\n".Length));
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AProtocolErrorIsAnsweredThenClosesOnlyThatConnection(TransportKind transport)
    {
        var (host, store) = await StartAsync(transport);
        await using var _ = host;
        using var __ = store;
        await using var bad = await host.ConnectAsync();
        await using var good = await host.ConnectAsync();

        await bad.SendAsync(Ascii("*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n:1\r\n"));

        var (received, _) = await bad.WaitForCloseAsync();
        Assert.Equal("+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n", Encoding.ASCII.GetString(received));
        Assert.Equal("+PONG\r\n", await ExchangeAsync(good, "PING\r\n", 7));
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task QuitAnswersOkThenClosesAndClientCommandsKeepPerConnectionState(TransportKind transport)
    {
        var (host, store) = await StartAsync(transport);
        await using var _ = host;
        using var __ = store;
        await using var client = await host.ConnectAsync();

        const string Expected = "+OK\r\n$6\r\nworker\r\n:0\r\n+OK\r\n";
        Assert.Equal(Expected, await ExchangeAsync(client, "CLIENT SETNAME worker\r\nCLIENT GETNAME\r\nDBSIZE\r\nSET a b\r\n", Expected.Length));
        await client.SendAsync(Ascii("QUIT\r\nPING\r\n"));

        var (received, _) = await client.WaitForCloseAsync();
        Assert.Equal("+OK\r\n", Encoding.ASCII.GetString(received)); // nothing after QUIT is answered
    }

    public static TheoryData<TransportKind, string, string> HostileCommands
    {
        get
        {
            var data = new TheoryData<TransportKind, string, string>();
            foreach (var transport in new[] { TransportKind.Sockets, TransportKind.Memory })
            {
                data.Add(transport, "*99999999999\r\n", "-ERR Protocol error: invalid multibulk length 99999999999\r\n");
                data.Add(transport, "*1\r\n$99999999999\r\n", "-ERR Protocol error: bulk length 99999999999 exceeds the limit of 536870912 bytes\r\n");
                data.Add(transport, "*1\r\n*1\r\n*1\r\n", "-ERR Protocol error: expected '$', got '*'\r\n");
                data.Add(transport, "*1\r\n$4\r\nPINGxx", "-ERR Protocol error: missing CRLF after bulk data\r\n");
                data.Add(transport, new string('x', 70_000), "-ERR Protocol error: too big inline request\r\n");
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(HostileCommands))]
    public async Task HostileInputGetsAProtocolErrorAndACleanCloseWhileOthersAreServed(TransportKind transport, string input, string reply)
    {
        var (host, store) = await StartAsync(transport);
        await using var _ = host;
        using var __ = store;
        await using var hostile = await host.ConnectAsync();
        await using var other = await host.ConnectAsync();

        await hostile.SendAsync(Ascii(input));

        var (received, error) = await hostile.WaitForCloseAsync();
        if (input.Length < 1000)
        {
            Assert.Null(error); // a FIN after the error reply, not a reset
            Assert.Equal(reply, Encoding.ASCII.GetString(received));
        }
        else
        {
            // The server stops reading at the limit; closing with the rest of the flood unread makes the kernel send a
            // reset, which may overtake the error reply. Either way the connection ends and nothing else is sent.
            Assert.True(error is not null || Encoding.ASCII.GetString(received) == reply);
        }

        Assert.Equal("+PONG\r\n", await ExchangeAsync(other, "PING\r\n", 7));
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ACommandTrickledAfterHalfAMillionArgumentsIsAnsweredWhileOthersAreServed(TransportKind transport)
    {
        // Issue 16's input: a huge command buffered, then the rest an argument at a time. Each arrival must cost only its
        // own bytes (TrickledMessageCostTests measures that); here the command is answered whole and the server keeps
        // serving another connection throughout.
        const int Buffered = 500_000;
        const int Trickled = 1_000;
        var (host, store) = await StartAsync(transport);
        await using var _ = host;
        using var __ = store;
        await using var trickler = await host.ConnectAsync();
        await using var other = await host.ConnectAsync();
        var argument = "$1\r\na\r\n"u8.ToArray();

        var head = new List<byte>(Ascii($"*{1 + Buffered + Trickled}\r\n$3\r\nDEL\r\n"));
        for (var i = 0; i < Buffered; i++)
        {
            head.AddRange(argument);
        }

        await trickler.SendAsync(head.ToArray());
        for (var i = 0; i < Trickled; i++)
        {
            await trickler.SendAsync(argument);
            if (i % 100 == 0)
            {
                await ExpectAsync(other, "PING\r\n", "+PONG\r\n");
            }
        }

        Assert.Equal(":0\r\n", Encoding.ASCII.GetString(await trickler.ReceiveExactlyAsync(4)));
        await ExpectAsync(trickler, "PING\r\n", "+PONG\r\n");
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task SetOptionsAndUpdatesKeepOrClearExpiriesAsRedisDoes(TransportKind transport)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (host, store) = await StartAsync(transport, time);
        await using var _ = host;
        using var __ = store;
        await using var client = await host.ConnectAsync();

        // A plain SET (the one-lookup path) replaces the value and drops the old expiry; KEEPTTL keeps it.
        await ExpectAsync(client, "SET k v1 EX 100\r\nSET k v2\r\nTTL k\r\nGET k\r\n", "+OK\r\n+OK\r\n:-1\r\n$2\r\nv2\r\n");
        await ExpectAsync(client, "SET k v3 EX 100\r\nSET k v4 KEEPTTL\r\nTTL k\r\nGET k\r\n", "+OK\r\n+OK\r\n:100\r\n$2\r\nv4\r\n");

        // NX and XX, and GET returning the value it replaced (without KEEPTTL, so the expiry goes).
        await ExpectAsync(client, "SET k x NX\r\nSET n y NX\r\nSET k v5 GET\r\nSET missing z XX\r\n", "$-1\r\n+OK\r\n$2\r\nv4\r\n$-1\r\n");
        await ExpectAsync(client, "GET k\r\nTTL k\r\nTTL missing\r\n", "$2\r\nv5\r\n:-1\r\n:-2\r\n");

        // APPEND and INCR keep the key's expiry; SETNX leaves a live key alone; PEXPIRE replaces the expiry.
        await ExpectAsync(client, "SET c 12 EX 50\r\nAPPEND c 345\r\nGET c\r\nINCR c\r\nTTL c\r\n", "+OK\r\n:5\r\n$5\r\n12345\r\n:12346\r\n:50\r\n");
        await ExpectAsync(client, "SETNX c 0\r\nPEXPIRE c 2000\r\nPTTL c\r\nGET c\r\n", ":0\r\n:1\r\n:2000\r\n$5\r\n12346\r\n");

        // On the store's clock the replaced expiry runs out and the cleared one never does.
        time.Advance(TimeSpan.FromSeconds(3));
        await ExpectAsync(client, "GET c\r\nGET k\r\nSTRLEN k\r\nMGET n c\r\n", "$-1\r\n$2\r\nv5\r\n:2\r\n*2\r\n$1\r\ny\r\n$-1\r\n");
    }

    [Fact]
    public async Task KeysExpireLazilyOnReadAndActivelyWhenNobodyReads()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (host, store) = await StartAsync(TransportKind.Memory, time);
        await using var _ = host;
        using var __ = store;
        await using var client = await host.ConnectAsync();

        Assert.Equal("+OK\r\n+OK\r\n:1\r\n", await ExchangeAsync(client, "SET lazy v PX 1000\r\nSET active v EX 1\r\nEXPIRE lazy 1\r\n", 14));
        Assert.Equal(":1000\r\n", await ExchangeAsync(client, "PTTL active\r\n", 7));
        Assert.Equal(2, store.ExpiringCount);

        time.Advance(TimeSpan.FromMilliseconds(1100)); // the active-expiry timer runs every 100 ms

        Assert.Equal(0, store.Count);
        Assert.Equal("$-1\r\n:-2\r\n", await ExchangeAsync(client, "GET lazy\r\nTTL lazy\r\n", 10));
    }

    [Theory]
    [InlineData(RedisProtocol.Resp2)]
    [InlineData(RedisProtocol.Resp3)]
    public async Task StackExchangeRedisRunsAMixedWorkloadWithVerifiedResults(RedisProtocol protocol)
    {
        var (host, store) = await StartAsync(TransportKind.Sockets);
        await using var _ = host;
        using var __ = store;
        var endPoint = (IPEndPoint)host.EndPoint;
        var options = new ConfigurationOptions
        {
            EndPoints = { endPoint },
            Protocol = protocol,
            AbortOnConnectFail = true,
            ConnectTimeout = 10_000,
            SyncTimeout = 10_000,
            AsyncTimeout = 10_000,
            CommandMap = CommandMap.Create(["SUBSCRIBE", "CLUSTER"], available: false),
            TieBreaker = string.Empty,
            ConfigurationChannel = string.Empty,
        };
        await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
        var db = redis.GetDatabase();

        // Many operations in flight at once, as an application would issue them.
        var writes = Enumerable.Range(0, 500).Select(i => db.StringSetAsync($"key:{i}", $"value:{i}")).ToArray();
        Assert.All(await Task.WhenAll(writes), Assert.True);
        var reads = await Task.WhenAll(Enumerable.Range(0, 500).Select(i => db.StringGetAsync($"key:{i}")));
        for (var i = 0; i < reads.Length; i++)
        {
            Assert.Equal($"value:{i}", (string?)reads[i]);
        }

        var counters = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => db.StringIncrementAsync("counter")));
        Assert.Equal(200, counters.Max());
        Assert.Equal(190, await db.StringDecrementAsync("counter", 10));
        Assert.True(await db.StringSetAsync([new("m1", "a"), new("m2", "b")]));
        Assert.Equal(["a", "b", null], (await db.StringGetAsync(["m1", "m2", "m3"])).Select(static v => (string?)v));
        Assert.Equal(2, await db.StringAppendAsync("m1", "x"));
        Assert.Equal(2, await db.StringLengthAsync("m1"));
        Assert.False(await db.StringSetAsync("m1", "nx", when: When.NotExists));
        Assert.True(await db.StringSetAsync("ttl", "v", TimeSpan.FromSeconds(100)));
        var ttl = await db.KeyTimeToLiveAsync("ttl");
        Assert.InRange(ttl!.Value.TotalSeconds, 90, 100);
        Assert.True(await db.KeyExistsAsync("ttl"));
        Assert.True(await db.KeyDeleteAsync("ttl"));
        Assert.False(await db.KeyExistsAsync("ttl"));
        Assert.Equal("hello", (string?)await db.ExecuteAsync("ECHO", "hello"));
        var error = await Assert.ThrowsAsync<RedisServerException>(() => db.ExecuteAsync("NOSUCH", "a"));
        Assert.StartsWith("ERR unknown command 'NOSUCH'", error.Message, StringComparison.Ordinal);
        Assert.True((await db.PingAsync()) >= TimeSpan.Zero);
        Assert.Equal(protocol, redis.GetServer(endPoint).Protocol);
        Assert.Equal(503, store.Count); // 500 keys, the counter, m1, m2
    }

    [Fact]
    public async Task RedisCliRoundTripsCommandsOverResp2AndResp3()
    {
        var (host, store) = await StartAsync(TransportKind.Sockets);
        await using var _ = host;
        using var __ = store;
        var port = ((IPEndPoint)host.EndPoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        Assert.Equal("OK", await RedisCliAsync("-p", port, "SET", "greeting", "hello world"));
        Assert.Equal("hello world", await RedisCliAsync("-p", port, "GET", "greeting"));
        Assert.Equal("11", await RedisCliAsync("-p", port, "STRLEN", "greeting"));
        Assert.Equal("1", await RedisCliAsync("-p", port, "DBSIZE"));
        Assert.Equal("ERR wrong number of arguments for 'get' command", await RedisCliAsync("-p", port, "GET"));

        var hello = await RedisCliAsync("-3", "-p", port, "HELLO", "3");
        Assert.Contains("proto 3", hello, StringComparison.Ordinal); // a map, as redis-cli prints one when not on a terminal
        Assert.Equal(string.Empty, await RedisCliAsync("-3", "-p", port, "GET", "missing")); // RESP3 null
    }

    private static async Task<string> RedisCliAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments.Prepend("127.0.0.1").Prepend("-h"))
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        var output = await process.StandardOutput.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return output.Trim();
    }
}
