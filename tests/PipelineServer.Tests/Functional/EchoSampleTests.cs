using System.Net;
using EchoServer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer.Hosting;
using PipelineServer.Testing;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Functional;

/// <summary>The echo sample as shipped: its host, built from its command line and configuration.</summary>
public class EchoSampleTests
{
    [Fact]
    public async Task TakesItsUrlAndFrameLimitFromTheCommandLine()
    {
        var logs = new TestLoggerProvider();
        // Protocol errors are peers' faults, logged per connection at Debug.
        using var host = EchoServerHost.Create(["--Url", "tcp://127.0.0.1:0", "--MaxFrameLength", "104", "--Logging:LogLevel:PipelineServer", "Debug"], b => b.Logging.AddProvider(logs));
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

    [Fact]
    public async Task AppliesTlsPerIpLimitHexDumpAndTimeoutsFromItsSettings()
    {
        var certificatePath = Path.Combine(Path.GetTempPath(), $"echo-sample-{Guid.NewGuid():N}.pfx");
        await File.WriteAllBytesAsync(certificatePath, TestCertificates.Server.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pfx, "secret"));
        try
        {
            var logs = new TestLoggerProvider();
            using var host = EchoServerHost.Create(
                [
                    "--Url", "tcp://127.0.0.1:0", "--Tls:CertificatePath", certificatePath, "--Tls:CertificatePassword", "secret",
                    "--MaxConnectionsPerIp", "1", "--HexDump", "true", "--IdleTimeout", "00:05:00", "--SlowMessageTimeout", "00:00:30",
                    "--RateLimit:MessagesPerSecond", "1000",
                ],
                b => b.Logging.AddProvider(logs));
            await host.StartAsync();
            var endPoint = host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!;
            var factory = new PipelineServer.Client.ClientBuilder().UseSockets().UseTls(tls =>
            {
                tls.TargetHost = "localhost";
                tls.RemoteCertificateValidation = static (_, certificate, _, _) => certificate?.GetCertHashString() == TestCertificates.Server.GetCertHashString();
            }).Build();

            await using (var secure = await factory.ConnectAsync(endPoint))
            {
                await secure.Transport.Output.WriteAsync(TestClient.Frame([1, 2, 3]));
                Assert.Equal([1, 2, 3], await secure.Transport.Input.ReceiveMessageAsync(EchoProtocol.CreateReader(), static f => f.ToArray(), new CancellationTokenSource(TestClient.Timeout).Token));

                // A second connection from the same address is over MaxConnectionsPerIp.
                await using var second = await TestClient.ConnectAsync(endPoint);
                var (received, _) = await second.WaitForCloseAsync();
                Assert.Empty(received);
            }

            var dump = await logs.WaitForEventAsync("HexDump");
            Assert.Contains("00 00 00 03 01 02 03", dump.Message, StringComparison.Ordinal);
            await host.StopAsync();
        }
        finally
        {
            File.Delete(certificatePath);
        }
    }

    [Fact]
    public async Task ReadsProxyProtocolHeadersFromTrustedNetworksWhenConfigured()
    {
        using var host = EchoServerHost.Create(["--Url", "tcp://127.0.0.1:0", "--ProxyProtocol:Mode", "Required", "--ProxyProtocol:TrustedNetworks", "10.0.0.0/8, 127.0.0.0/8"]);
        await host.StartAsync();
        var endPoint = host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!;
        await using var proxied = await TestClient.ConnectAsync(endPoint);
        await using var direct = await TestClient.ConnectAsync(endPoint);

        await proxied.SendAsync(System.Text.Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.1 203.0.113.1 1000 7000\r\n"));
        await proxied.SendFrameAsync(new byte[] { 5 });
        Assert.Equal([5], await proxied.ReceiveFrameAsync());

        await direct.SendFrameAsync(new byte[] { 5 });
        var (received, _) = await direct.WaitForCloseAsync();
        Assert.Empty(received);
        await host.StopAsync();
    }

    private static EndPoint? EndPointOf(IHost host)
    {
        // Kestrel reads its options (and so creates the listen options) when the server is resolved.
        host.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>();
        return host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint;
    }
}
