using System.Net;
using System.Security.Cryptography.X509Certificates;
using EchoServer;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Client;
using PipelineServer.Hosting;
using PipelineServer.Testing;
using PipelineServer.Tests.Infrastructure;
using PipelineServer.Tests.Middleware;

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

    // One test per setting the sample reads: each passes the setting explicitly (so the sample's own defaults do not
    // matter) and waits for the effect that only that setting produces (a close with its reason, a log event, a metric).

    [Fact]
    public async Task ServesTlsWithTheConfiguredCertificate()
    {
        using var pfx = new PfxFile(TestCertificates.Server);
        await using var sample = await RunningSample.StartAsync("--Tls:CertificatePath", pfx.Path, "--Tls:CertificatePassword", PfxFile.Password);

        await using var secure = await TlsClient().ConnectAsync(sample.EndPoint, Timeout);

        Assert.Equal([1, 2, 3], await EchoAsync(secure, [1, 2, 3]));
        var tls = secure.Features.Get<ITlsStreamFeature>()!.SslStream;
        Assert.Equal(TestCertificates.Server.GetCertHashString(), tls.RemoteCertificate!.GetCertHashString());
    }

    [Fact]
    public async Task RefusesATlsClientWithoutACertificateWhenTheClientCertificateModeRequiresOne()
    {
        using var pfx = new PfxFile(TestCertificates.Server);
        await using var sample = await RunningSample.StartAsync(
            "--Tls:CertificatePath", pfx.Path, "--Tls:CertificatePassword", PfxFile.Password, "--Tls:ClientCertificateMode", "RequireCertificate");

        // The client's handshake completes; the server then refuses it and closes (TlsServerTests shows the same refusal
        // in detail). Served, the connection would stay open and this read would time out.
        await using var anonymous = await TlsClient().ConnectAsync(sample.EndPoint, Timeout);

        Assert.Empty(await anonymous.Transport.Input.ReceiveToEndAsync(Timeout));
    }

    [Fact]
    public async Task RefusesAConnectionOverMaxConnectionsPerIp()
    {
        await using var sample = await RunningSample.StartAsync("--MaxConnectionsPerIp", "1");
        await using var first = await sample.ConnectAsync();
        await MiddlewareTestKit.AssertEchoesAsync(first, 1);

        await using var second = await sample.ConnectAsync();

        await MiddlewareTestKit.AssertClosedWithoutReplyAsync(second);
        await sample.Metrics.WaitForAsync("pipelineserver.rejected_connections", 1, "ip_limit");
        await MiddlewareTestKit.AssertEchoesAsync(first, 2);
    }

    [Fact]
    public async Task RefusesAConnectionOverMaxConnections()
    {
        await using var sample = await RunningSample.StartAsync("--MaxConnections", "1");
        await using var first = await sample.ConnectAsync();
        await MiddlewareTestKit.AssertEchoesAsync(first, 1);

        await using var second = await sample.ConnectAsync();

        await MiddlewareTestKit.AssertClosedWithoutReplyAsync(second);
        await sample.Logs.WaitForEventAsync("ConnectionRejected"); // Kestrel's, at Warning
        await MiddlewareTestKit.AssertEchoesAsync(first, 2);
    }

    [Fact]
    public async Task LogsTrafficAsAHexDumpWhenHexDumpIsOn()
    {
        await using var sample = await RunningSample.StartAsync("--HexDump", "true");
        await using var client = await sample.ConnectAsync();

        await MiddlewareTestKit.AssertEchoesAsync(client, 0x41);

        var dump = await sample.Logs.WaitForAsync(static r => r.EventId.Name == "HexDump" && r.Message.Contains("received", StringComparison.Ordinal));
        Assert.Contains("00 00 00 01 41", dump.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClosesAnIdleConnectionAfterTheIdleTimeout()
    {
        await using var sample = await RunningSample.StartAsync("--IdleTimeout", "00:00:00.200");
        await using var idle = await sample.ConnectAsync();

        await MiddlewareTestKit.AssertClosedWithoutReplyAsync(idle);
        await sample.Metrics.WaitForAsync("pipelineserver.closed_connections", 1, "idle_timeout");
        var logged = await sample.Logs.WaitForEventAsync("ConnectionTimedOut");
        Assert.Contains("idle timeout", logged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClosesAMessageTrickledPastTheSlowMessageTimeout()
    {
        await using var sample = await RunningSample.StartAsync("--SlowMessageTimeout", "00:00:00.200");
        await using var slow = await sample.ConnectAsync();
        await MiddlewareTestKit.AssertEchoesAsync(slow, 1);

        // A frame announcing 100 bytes, started and never finished.
        await slow.SendAsync(new byte[] { 0, 0, 0, 100 });
        await slow.SendAsync(new byte[] { 1, 2, 3 });

        await MiddlewareTestKit.AssertClosedWithoutReplyAsync(slow);
        await sample.Metrics.WaitForAsync("pipelineserver.closed_connections", 1, "slow_message_timeout");
        var logged = await sample.Logs.WaitForEventAsync("ConnectionTimedOut");
        Assert.Contains("slow-message timeout", logged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClosesAPeerThatNeverReadsAfterTheWriteTimeout()
    {
        await using var sample = await RunningSample.StartAsync("--WriteTimeout", "00:00:00.200");
        await using var other = await sample.ConnectAsync();
        await using var slow = await sample.ConnectAsync();

        // 64 KiB requests, as fast as the server takes them, and nothing read back: once the socket buffers are full the
        // server's flush waits, and the write timeout closes the connection, which ends this loop.
        var request = TestClient.Frame(new byte[64 * 1024]);
        using var flooding = new CancellationTokenSource(TestClient.Timeout);
        try
        {
            while (!(await slow.Output.WriteAsync(request, flooding.Token)).IsCompleted)
            {
            }
        }
        catch (Exception ex) when (ex is IOException or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
        }

        await sample.Metrics.WaitForAsync("pipelineserver.closed_connections", 1, "write_timeout");
        await MiddlewareTestKit.AssertEchoesAsync(other);
    }

    [Fact]
    public async Task ClosesAConnectionOverItsMessageRateWhenTheRateLimitClosesConnections()
    {
        await using var sample = await RunningSample.StartAsync("--RateLimit:MessagesPerSecond", "2", "--RateLimit:OnExceeded", "Close");
        await using var flood = await sample.ConnectAsync();
        await using var other = await sample.ConnectAsync();

        // 20 messages at once, against 2 a second: some answers at most (the bucket refills once a second, so a refill
        // can land inside the burst), then the close.
        var frames = new byte[20 * 5];
        for (var i = 0; i < 20; i++)
        {
            TestClient.Frame([(byte)i]).CopyTo(frames, i * 5);
        }

        await flood.SendAsync(frames);

        var (answered, _) = await flood.WaitForCloseAsync();
        Assert.True(answered.Length < frames.Length, $"{answered.Length / 5} of 20 messages answered");
        await sample.Metrics.WaitForAsync("pipelineserver.closed_connections", 1, "rate_limit");
        await sample.Logs.WaitForEventAsync("RateLimitExceeded");
        await MiddlewareTestKit.AssertEchoesAsync(other); // its own bucket
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

    private static CancellationToken Timeout => new CancellationTokenSource(TestClient.Timeout).Token;

    private static IConnectionFactory TlsClient() => new ClientBuilder().UseSockets().UseTls(static tls =>
    {
        tls.TargetHost = "localhost";
        tls.RemoteCertificateValidation = static (_, certificate, _, _) => certificate?.GetCertHashString() == TestCertificates.Server.GetCertHashString();
    }).Build();

    private static async Task<byte[]> EchoAsync(ConnectionContext connection, byte[] payload)
    {
        await connection.Transport.Output.WriteAsync(TestClient.Frame(payload), Timeout);
        return await connection.Transport.Input.ReceiveMessageAsync(EchoProtocol.CreateReader(), static f => f.ToArray(), Timeout);
    }

    private static EndPoint? EndPointOf(IHost host)
    {
        // Kestrel reads its options (and so creates the listen options) when the server is resolved.
        host.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>();
        return host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint;
    }

    /// <summary>The sample's host on 127.0.0.1 port 0 with the given settings, its logs and its metrics.</summary>
    [Fact]
    public async Task ShipsWithTheRecommendedLimitsOn()
    {
        await using var sample = await RunningSample.StartAsync();

        var limits = await sample.Logs.WaitForEventAsync("Limits");
        Assert.Equal(
            "Limits: per-IP connections 100, first-message timeout 00:00:10, idle timeout 00:05:00, slow-message timeout 00:00:30, write timeout 00:00:30.",
            limits.Message);
    }

    [Fact]
    public async Task EachDefaultLimitIsOffWhenSetToZero()
    {
        await using var sample = await RunningSample.StartAsync(
            "--MaxConnectionsPerIp", "0", "--FirstMessageTimeout", "0", "--IdleTimeout", "0", "--SlowMessageTimeout", "0", "--WriteTimeout", "0");

        var limits = await sample.Logs.WaitForEventAsync("Limits");
        Assert.Equal("Limits: per-IP connections off, first-message timeout off, idle timeout off, slow-message timeout off, write timeout off.", limits.Message);
    }

    [Fact]
    public async Task ByDefaultClosesAConnectionThatCompletesNoMessageWithinTenSeconds()
    {
        var time = new FakeTimeProvider();
        await using var sample = await RunningSample.StartAsync(time);
        await using var silent = await sample.ConnectAsync();
        // Counted once the chain, the timeouts included, has the connection.
        await sample.Metrics.WaitForAsync("pipelineserver.opened_connections", 1);

        time.Advance(TimeSpan.FromSeconds(9));
        await using var other = await sample.ConnectAsync();
        await MiddlewareTestKit.AssertEchoesAsync(other);
        time.Advance(TimeSpan.FromSeconds(2));

        await MiddlewareTestKit.AssertClosedWithoutReplyAsync(silent);
        await sample.Metrics.WaitForAsync("pipelineserver.closed_connections", 1, "first_message_timeout");
        await MiddlewareTestKit.AssertEchoesAsync(other);
    }

    [Fact]
    public async Task ByDefaultRefusesTheHundredAndFirstConnectionFromOneAddress()
    {
        await using var sample = await RunningSample.StartAsync();
        var open = new List<TestClient>();
        try
        {
            for (var i = 0; i < RecommendedLimits.MaxConnectionsPerIp; i++)
            {
                open.Add(await sample.ConnectAsync());
            }

            await sample.Metrics.WaitForAsync("pipelineserver.opened_connections", RecommendedLimits.MaxConnectionsPerIp);
            await using var over = await sample.ConnectAsync();

            await MiddlewareTestKit.AssertClosedWithoutReplyAsync(over);
            await sample.Metrics.WaitForAsync("pipelineserver.rejected_connections", 1, "ip_limit");
            await MiddlewareTestKit.AssertEchoesAsync(open[^1]);
        }
        finally
        {
            foreach (var client in open)
            {
                await client.DisposeAsync();
            }
        }
    }

    private sealed class RunningSample : IAsyncDisposable
    {
        private RunningSample(IHost host, TestLoggerProvider logs)
        {
            Host = host;
            Logs = logs;
            Metrics = new MetricsRecorder(host.Services);
        }

        public IHost Host { get; }

        public TestLoggerProvider Logs { get; }

        public MetricsRecorder Metrics { get; }

        public EndPoint EndPoint => Host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!;

        public static Task<RunningSample> StartAsync(params string[] settings) => StartAsync(null, settings);

        public static async Task<RunningSample> StartAsync(TimeProvider? time, params string[] settings)
        {
            var logs = new TestLoggerProvider();
            // Peers' faults (timeouts, refusals) are logged per connection at Debug.
            var sample = new RunningSample(
                EchoServerHost.Create(["--Url", "tcp://127.0.0.1:0", "--Logging:LogLevel:PipelineServer", "Debug", .. settings], b =>
                {
                    b.Logging.AddProvider(logs);
                    if (time is not null)
                    {
                        b.Services.AddSingleton(time);
                    }
                }),
                logs);
            await sample.Host.StartAsync(Timeout);
            return sample;
        }

        public Task<TestClient> ConnectAsync() => TestClient.ConnectAsync(EndPoint);

        public async ValueTask DisposeAsync()
        {
            await Host.StopAsync();
            Metrics.Dispose();
            Host.Dispose();
        }
    }

    /// <summary>A certificate in a PKCS#12 file, as the sample's <c>Tls:CertificatePath</c> reads it; deleted on dispose.</summary>
    private sealed class PfxFile : IDisposable
    {
        public const string Password = "secret";

        public PfxFile(X509Certificate2 certificate)
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"echo-sample-{Guid.NewGuid():N}.pfx");
            File.WriteAllBytes(Path, certificate.Export(X509ContentType.Pfx, Password));
        }

        public string Path { get; }

        public void Dispose() => File.Delete(Path);
    }
}
