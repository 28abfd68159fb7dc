using System.Net;
using EchoServer;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer.Hosting;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Hosting;

// Endpoints on IPv6: the loopback, and the any-address listeners, which take IPv4 peers too (dual mode). An IPv4 peer on
// a dual-mode listener arrives as an IPv4-mapped IPv6 address and is counted by the per-IP limit as the IPv4 address.
public class IPv6HostingTests
{
    private static async Task<(IHost Host, TestLoggerProvider Logs, int Port)> StartAsync(string url, int? perIpLimit = null)
    {
        var logs = new TestLoggerProvider();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);

        // The URL comes from configuration, as a deployment gives it.
        builder.Configuration.AddInMemoryCollection([new("PipelineServer:Endpoints:echo:Url", url)]);
        builder.AddPipelineServer(server => server.Endpoint("echo", listen =>
        {
            if (perIpLimit is { } limit)
            {
                listen.UseConnectionLimitPerIp(limit);
            }

            listen.UseEcho();
        }));
        var host = builder.Build();
        using var cts = new CancellationTokenSource(TestClient.Timeout);
        await host.StartAsync(cts.Token);
        var port = ((IPEndPoint)host.Services.GetRequiredService<PipelineServerEndpoints>()["echo"].EndPoint!).Port;
        return (host, logs, port);
    }

    private static async Task AssertEchoesAsync(TestClient client)
    {
        await client.SendFrameAsync(new byte[] { 6 });
        Assert.Equal([6], await client.ReceiveFrameAsync());
    }

    [Fact]
    public async Task ServesOnTheIPv6Loopback()
    {
        var (host, _, port) = await StartAsync("tcp://[::1]:0");
        using (host)
        {
            await using var client = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, port));
            await AssertEchoesAsync(client);
            await host.StopAsync();
        }
    }

    [Theory]
    [InlineData("tcp://[::]:0")]
    [InlineData("tcp://*:0")]
    public async Task AnAnyAddressListenerServesIPv4AndIPv6Peers(string url)
    {
        var (host, _, port) = await StartAsync(url);
        using (host)
        {
            await using var v6 = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, port));
            await using var v4 = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            await AssertEchoesAsync(v6);
            await AssertEchoesAsync(v4);
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task OnADualModeListenerThePerIpLimitCountsAnIPv4PeerAsItsIPv4Address()
    {
        var (host, logs, port) = await StartAsync("tcp://[::]:0", perIpLimit: 1);
        using (host)
        {
            await using var first = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            await AssertEchoesAsync(first);
            await using var second = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));

            var (received, _) = await second.WaitForCloseAsync();
            Assert.Empty(received);
            var refused = await logs.WaitForEventAsync("PerIpLimitReached");
            Assert.Contains("from 127.0.0.1 rejected", refused.Message, StringComparison.Ordinal);

            // The IPv6 loopback is another address.
            await using var v6 = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, port));
            await AssertEchoesAsync(v6);
            await host.StopAsync();
        }
    }
}
