using System.Net;
using System.Text;
using EchoServer;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Diagnostics;
using PipelineServer.Middleware;
using PipelineServer.Tests.Infrastructure;
using static PipelineServer.Tests.Middleware.MiddlewareTestKit;

namespace PipelineServer.Tests.Middleware;

// What the per-IP limits count as one address: an IPv6 prefix (a /64 by default, since one host routinely owns one),
// an IPv4-mapped IPv6 address as its IPv4 address, and a per-IP rate bucket across reconnects. Peers claim their
// addresses through a PROXY header from the loopback, so any address can be tested on one machine.
public class PerIpGroupingTests
{
    private static Task<TestHost> StartAsync(TransportKind transport, Action<ListenOptions> limits) =>
        TestHost.StartAsync(transport, listen =>
        {
            listen.GiveMemoryConnectionsAnAddress(transport, IPAddress.Loopback);
            listen.UseProxyProtocol(options =>
            {
                options.Mode = ProxyProtocolMode.Required;
                options.TrustedNetworks.Add(IPNetwork.Parse("127.0.0.0/8"));
            });
            listen.UseLifecycleLogging();
            limits(listen);
            listen.UseEcho();
        });

    private static async Task<TestClient> ConnectFromAsync(TestHost host, string address)
    {
        var client = await host.ConnectAsync();
        var family = address.Contains(':', StringComparison.Ordinal) ? "TCP6" : "TCP4";
        var local = family == "TCP6" ? "2001:db8::7" : "203.0.113.7";
        await client.SendAsync(Encoding.ASCII.GetBytes($"PROXY {family} {address} {local} 40000 7000\r\n"));
        return client;
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task IPv6PeersInOnePrefixShareTheConnectionLimit(TransportKind transport)
    {
        await using var host = await StartAsync(transport, listen => listen.UseConnectionLimitPerIp(1));
        await using var first = await ConnectFromAsync(host, "2001:db8:1:2::1");
        await AssertEchoesAsync(first);

        await using var sameSlash64 = await ConnectFromAsync(host, "2001:db8:1:2:ffff:ffff:ffff:ffff");
        await AssertClosedWithoutReplyAsync(sameSlash64);
        var refused = await host.Logs.WaitForEventAsync("PerIpLimitReached");
        Assert.Contains("from 2001:db8:1:2::/64 rejected", refused.Message, StringComparison.Ordinal);

        await using var otherSlash64 = await ConnectFromAsync(host, "2001:db8:1:3::1");
        await AssertEchoesAsync(otherSlash64);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task APrefixLengthOf128CountsEachIPv6AddressApart(TransportKind transport)
    {
        await using var host = await StartAsync(transport, listen => listen.UseConnectionLimitPerIp(1, ipv6PrefixLength: 128));
        await using var first = await ConnectFromAsync(host, "2001:db8:1:2::1");
        await using var second = await ConnectFromAsync(host, "2001:db8:1:2::2");

        await AssertEchoesAsync(first);
        await AssertEchoesAsync(second);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AnIPv4MappedIPv6PeerCountsAsItsIPv4Address(TransportKind transport)
    {
        await using var host = await StartAsync(transport, listen => listen.UseConnectionLimitPerIp(1));
        await using var v4 = await ConnectFromAsync(host, "198.51.100.1");
        await AssertEchoesAsync(v4);

        await using var mapped = await ConnectFromAsync(host, "::ffff:198.51.100.1");

        await AssertClosedWithoutReplyAsync(mapped);
        var refused = await host.Logs.WaitForEventAsync("PerIpLimitReached");
        Assert.Contains("from 198.51.100.1 rejected", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task IPv6PeersInOnePrefixShareTheMessageRateLimit(TransportKind transport)
    {
        await using var host = await StartAsync(transport, listen => listen.UseMessageRateLimit(options =>
        {
            options.PerIp = 2;
            options.OnExceeded = RateLimitExceededAction.Close;
            options.TimeProvider = new FakeTimeProvider();
        }));
        await using var first = await ConnectFromAsync(host, "2001:db8:1:2::1");
        await using var second = await ConnectFromAsync(host, "2001:db8:1:2::2");
        await AssertEchoesAsync(first, 1);
        await AssertEchoesAsync(first, 2);

        await second.SendFrameAsync(new byte[] { 3 });

        await AssertClosedWithoutReplyAsync(second);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AReconnectDoesNotRefillThePerIpBucket(TransportKind transport)
    {
        var time = new FakeTimeProvider();
        await using var host = await StartAsync(transport, listen => listen.UseMessageRateLimit(options =>
        {
            options.PerIp = 2;
            options.OnExceeded = RateLimitExceededAction.Close;
            options.TimeProvider = time;
        }));
        var burst = await ConnectFromAsync(host, "198.51.100.9");
        await AssertEchoesAsync(burst, 1);
        await AssertEchoesAsync(burst, 2);
        await burst.DisposeAsync();
        // Logged once the chain, the rate limiter's release of its bucket included, has returned.
        await host.Logs.WaitForEventAsync("ConnectionClosed");

        await using var reconnected = await ConnectFromAsync(host, "198.51.100.9");
        await reconnected.SendFrameAsync(new byte[] { 3 });
        await AssertClosedWithoutReplyAsync(reconnected);

        // A second later the bucket is full again, as it would have been had the peer stayed.
        time.Advance(TimeSpan.FromSeconds(1));
        await using var later = await ConnectFromAsync(host, "198.51.100.9");
        await AssertEchoesAsync(later, 4);
    }

    [Fact]
    public async Task APerIpBucketLeftNotFullIsForgottenOnceTheNextRefillFillsIt()
    {
        var time = new FakeTimeProvider();
        var takeAToken = true;
        var middleware = new MessageRateLimitMiddleware(
            async connection =>
            {
                if (takeAToken)
                {
                    await connection.Features.Get<IMessageGateFeature>()!.WaitAsync(CancellationToken.None);
                }
            },
            new MessageRateLimitOptions { PerIp = 2 },
            time,
            NullLogger.Instance,
            PeerFaultLog.Get(null));
        var peer = new IPEndPoint(IPAddress.Parse("2001:db8::1"), 1);

        await middleware.OnConnectionAsync(new DefaultConnectionContext { RemoteEndPoint = peer });
        Assert.Equal(1, middleware.TrackedAddresses);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, middleware.TrackedAddresses);

        // A bucket released full is forgotten at once.
        takeAToken = false;
        await middleware.OnConnectionAsync(new DefaultConnectionContext { RemoteEndPoint = peer });
        Assert.Equal(0, middleware.TrackedAddresses);
    }
}
