using System.Net;
using System.Text;
using EchoServer;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Tests.Infrastructure;
using static PipelineServer.Tests.Middleware.MiddlewareTestKit;

namespace PipelineServer.Tests.Middleware;

public class ProxyProtocolTests
{
    // Sockets connect from 127.0.0.1; memory connections are given this address.
    private static readonly IPAddress s_proxyAddress = IPAddress.Loopback;

    private static Task<TestHost> StartAsync(TransportKind transport, ProxyProtocolMode mode, string trusted = "127.0.0.0/8", TimeProvider? time = null, int? perIpLimit = null, TaskCompletionSource? waiting = null) =>
        TestHost.StartAsync(transport, listen =>
        {
            listen.GiveMemoryConnectionsAnAddress(transport, s_proxyAddress);
            if (waiting is not null)
            {
                // Signals once the rest of the chain has run up to its first wait (the PROXY middleware has set its timer).
                listen.Use(next => connection =>
                {
                    var running = next(connection);
                    waiting.TrySetResult();
                    return running;
                });
            }

            listen.UseProxyProtocol(options =>
            {
                options.Mode = mode;
                options.TrustedNetworks.Add(IPNetwork.Parse(trusted));
                options.TimeProvider = time ?? TimeProvider.System;
            });
            if (perIpLimit is { } limit)
            {
                listen.UseConnectionLimitPerIp(limit);
            }

            listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, new WhoAmIHandler());
        });

    private static async Task<string> AskWhoAmIAsync(TestClient client)
    {
        await client.SendFrameAsync(new byte[] { 1 });
        return Encoding.ASCII.GetString(await client.ReceiveFrameAsync());
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AVersion1HeaderReplacesTheRemoteAndLocalEndpoints(TransportKind transport)
    {
        await using var host = await StartAsync(transport, ProxyProtocolMode.Required);
        await using var client = await host.ConnectAsync();

        await client.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.22 203.0.113.7 35646 7000\r\n"));

        Assert.Equal("198.51.100.22:35646 203.0.113.7:7000", await AskWhoAmIAsync(client));
        Assert.Equal("198.51.100.22:35646 203.0.113.7:7000", await AskWhoAmIAsync(client));
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AVersion2HeaderSentWithTheFirstMessageReplacesTheEndpoints(TransportKind transport)
    {
        await using var host = await StartAsync(transport, ProxyProtocolMode.Required);
        await using var client = await host.ConnectAsync();

        var header = ProxyProtocolParserTests.V2Inet(IPEndPoint.Parse("[2001:db8::1]:443"), IPEndPoint.Parse("[2001:db8::2]:7000"));
        await client.SendAsync(header.Concat(TestClient.Frame([1])).ToArray());

        Assert.Equal("[2001:db8::1]:443 [2001:db8::2]:7000", Encoding.ASCII.GetString(await client.ReceiveFrameAsync()));
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ALocalHeaderKeepsTheProxysOwnEndpoint(TransportKind transport)
    {
        await using var host = await StartAsync(transport, ProxyProtocolMode.Required);
        await using var client = await host.ConnectAsync();

        await client.SendAsync(ProxyProtocolParserTests.V2(0x20, 0x00, []));

        Assert.StartsWith(transport == TransportKind.Sockets ? "127.0.0.1:" : "127.0.0.1:40000", await AskWhoAmIAsync(client));
    }

    public static TheoryData<TransportKind, string> MalformedHeaders
    {
        get
        {
            var data = new TheoryData<TransportKind, string>();
            foreach (var transport in new[] { TransportKind.Sockets, TransportKind.Memory })
            {
                data.Add(transport, "PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n");
                data.Add(transport, "PROXY TCP4 " + new string('9', 200));
                data.Add(transport, "\r\n\r\n\u0000\r\nQUIT\n\u0013\u0011\u0000\u000c" + new string('\0', 12));
                data.Add(transport, "\u0000\u0000\u0000\u0001A"); // no header at all, in Required mode
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(MalformedHeaders))]
    public async Task AMalformedOrMissingHeaderClosesThatConnectionOnly(TransportKind transport, string start)
    {
        await using var host = await StartAsync(transport, ProxyProtocolMode.Required);
        using var metrics = new MetricsRecorder(host.Services);
        await using var good = await host.ConnectAsync();
        await good.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.1 203.0.113.1 1000 7000\r\n"));
        Assert.StartsWith("198.51.100.1:1000", await AskWhoAmIAsync(good));

        await using var bad = await host.ConnectAsync();
        await bad.SendAsync(Encoding.Latin1.GetBytes(start));

        await AssertClosedWithoutReplyAsync(bad);
        Assert.Equal(1, metrics.Total("pipelineserver.rejected_connections", "proxy_protocol"));
        Assert.Contains(host.Logs.Records, static r => r.EventId.Name == "ProxyHeaderRejected");
        Assert.StartsWith("198.51.100.1:1000", await AskWhoAmIAsync(good));
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AHeaderFromAnUntrustedPeerIsRefused(TransportKind transport)
    {
        await using var host = await StartAsync(transport, ProxyProtocolMode.Required, trusted: "10.0.0.0/8");
        await using var client = await host.ConnectAsync();

        await client.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.22 203.0.113.7 35646 7000\r\n"));

        await AssertClosedWithoutReplyAsync(client);
        Assert.Contains(host.Logs.Records, static r => r.EventId.Name == "ProxyUntrustedPeer");
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task InOptionalModeAConnectionWithoutAHeaderKeepsItsAddressAndItsBytes(TransportKind transport)
    {
        await using var host = await StartAsync(transport, ProxyProtocolMode.Optional);
        await using var plain = await host.ConnectAsync();
        await using var proxied = await host.ConnectAsync();

        Assert.StartsWith("127.0.0.1:", await AskWhoAmIAsync(plain));
        await proxied.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.22 203.0.113.7 35646 7000\r\n"));
        Assert.StartsWith("198.51.100.22:35646", await AskWhoAmIAsync(proxied));
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AHeaderThatDoesNotArriveInTimeClosesTheConnection(TransportKind transport)
    {
        var time = new FakeTimeProvider();
        var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await StartAsync(transport, ProxyProtocolMode.Required, time: time, waiting: waiting);
        await using var client = await host.ConnectAsync();
        await client.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 198.51"));
        await waiting.Task.WaitAsync(TestClient.Timeout);

        time.Advance(TimeSpan.FromSeconds(6));

        await AssertClosedWithoutReplyAsync(client);
        var log = await host.Logs.WaitForEventAsync("ProxyHeaderRejected");
        Assert.Contains("no complete header", log.Message);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ThePerIpLimitAfterTheProxyCountsClientsNotTheLoadBalancer(TransportKind transport)
    {
        await using var host = await StartAsync(transport, ProxyProtocolMode.Required, perIpLimit: 1);
        await using var a = await host.ConnectAsync();
        await using var b = await host.ConnectAsync();
        await using var a2 = await host.ConnectAsync();

        await a.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.1 203.0.113.1 1000 7000\r\n"));
        await b.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.2 203.0.113.1 1000 7000\r\n"));
        Assert.StartsWith("198.51.100.1:", await AskWhoAmIAsync(a));
        Assert.StartsWith("198.51.100.2:", await AskWhoAmIAsync(b));

        await a2.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.1 203.0.113.1 1001 7000\r\n"));
        await AssertClosedWithoutReplyAsync(a2);
    }
}
