using System.Net;
using EchoServer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer.Hosting;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Functional;

/// <summary>The echo sample as shipped: its host, built from its command line and configuration.</summary>
public class EchoSampleTests
{
    [Fact]
    public async Task TakesItsUrlAndFrameLimitFromTheCommandLine()
    {
        var logs = new TestLoggerProvider();
        using var host = EchoServerHost.Create(["--Url", "tcp://127.0.0.1:0", "--MaxFrameLength", "104"], b => b.Logging.AddProvider(logs));
        await host.StartAsync();
        var endPoint = host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!;
        await using var client = await TestClient.ConnectAsync(endPoint);
        await using var other = await TestClient.ConnectAsync(endPoint);

        // 100 payload bytes + 4 header bytes is exactly the limit.
        await client.SendFrameAsync(new byte[100]);
        Assert.Equal(100, (await client.ReceiveFrameAsync()).Length);
        await client.SendFrameAsync(new byte[101]);
        var (rest, _) = await client.WaitForCloseAsync();
        Assert.Empty(rest);
        var logged = await logs.WaitForEventAsync("ProtocolError");
        Assert.Contains("exceeds the maximum of 104 bytes", logged.Message, StringComparison.Ordinal);

        await other.SendFrameAsync(new byte[] { 1 });
        Assert.Equal([1], await other.ReceiveFrameAsync());
        await host.StopAsync();
    }

    [Fact]
    public void DefaultsToLoopbackPort7000AndOneMebibyteFrames()
    {
        using var host = EchoServerHost.Create([]);

        var endpoint = host.Services.GetRequiredService<PipelineServerEndpoints>()[0];
        Assert.Equal("tcp://127.0.0.1:7000", endpoint.ConfiguredUrl);
        Assert.Equal(1024 * 1024, EchoProtocol.CreateReader().MaxFrameLength);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 7000), EndPointOf(host));
    }

    private static EndPoint? EndPointOf(IHost host)
    {
        // Kestrel reads its options (and so creates the listen options) when the server is resolved.
        host.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>();
        return host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint;
    }
}
