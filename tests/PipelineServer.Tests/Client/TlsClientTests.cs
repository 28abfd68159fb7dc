using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using EchoServer;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using PipelineServer.Client;
using PipelineServer.Protocols;
using PipelineServer.Protocols.Framing;
using PipelineServer.Streams;
using PipelineServer.Testing;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Client;

/// <summary>Client TLS against Kestrel's UseHttps, with a self-signed certificate made by the test.</summary>
public class TlsClientTests
{
    private static readonly SslApplicationProtocol s_echoAlpn = new("echo/1");

    private static CancellationToken Timeout => new CancellationTokenSource(TestClient.Timeout).Token;

    private static bool TrustsTestServer(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors) =>
        certificate is not null && certificate.GetCertHashString() == TestCertificates.Server.GetCertHashString();

    private static async Task<(TestHost Host, ServerSideTls Seen)> StartTlsEchoAsync(bool requireClientCertificate = false, X509Certificate2? serverCertificate = null)
    {
        var seen = new ServerSideTls();
        var host = await TestHost.StartAsync(TransportKind.Sockets, listen =>
        {
            listen.UseHttps(new TlsHandshakeCallbackOptions
            {
                OnConnection = context =>
                {
                    seen.ServerName = context.ClientHelloInfo.ServerName;
                    return ValueTask.FromResult(new SslServerAuthenticationOptions
                    {
                        ServerCertificate = serverCertificate ?? TestCertificates.Server,
                        ApplicationProtocols = [s_echoAlpn],
                        ClientCertificateRequired = requireClientCertificate,
                        RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                        {
                            seen.ClientCertificate = certificate is null ? null : new X509Certificate2(certificate);
                            return !requireClientCertificate || certificate is not null;
                        },
                    });
                },
            });
            listen.UseEcho();
        });
        return (host, seen);
    }

    [Fact]
    public async Task SecuresTheConnectionWithSniAlpnAndAClientCertificate()
    {
        var (host, seen) = await StartTlsEchoAsync(requireClientCertificate: true);
        await using var _ = host;
        var factory = new ClientBuilder().UseSockets().UseTls(tls =>
        {
            tls.TargetHost = "localhost";
            tls.ApplicationProtocols.Add(s_echoAlpn);
            tls.ClientCertificate = TestCertificates.Client;
            tls.RemoteCertificateValidation = TrustsTestServer;
        }).Build();

        await using var connection = await factory.ConnectAsync(host.EndPoint, Timeout);
        await connection.Transport.Output.WriteAsync(TestClient.Frame([1, 2, 3]));
        var echoed = await connection.Transport.Input.ReceiveMessageAsync(EchoProtocol.CreateReader(), static f => f.ToArray(), Timeout);

        Assert.Equal([1, 2, 3], echoed);
        var tls = connection.Features.Get<ITlsStreamFeature>()!.SslStream;
        Assert.Equal(s_echoAlpn, tls.NegotiatedApplicationProtocol);
        Assert.Equal(TestCertificates.Server.GetCertHashString(), tls.RemoteCertificate!.GetCertHashString());
        Assert.Equal("localhost", seen.ServerName);
        Assert.Equal(TestCertificates.Client.GetCertHashString(), seen.ClientCertificate?.GetCertHashString());
    }

    [Fact]
    public async Task TheTargetHostDefaultsToTheDnsNameConnectedTo()
    {
        var (host, seen) = await StartTlsEchoAsync();
        await using var _ = host;
        var factory = new ClientBuilder().UseSockets().UseTls(tls => tls.RemoteCertificateValidation = TrustsTestServer).Build();

        await using var connection = await factory.ConnectAsync(new DnsEndPoint("localhost", ((IPEndPoint)host.EndPoint).Port), Timeout);

        Assert.Equal("localhost", seen.ServerName);
    }

    [Fact]
    public async Task AnUntrustedServerCertificateFailsTheConnect()
    {
        var (host, _) = await StartTlsEchoAsync();
        await using var _ = host;
        var factory = new ClientBuilder().UseSockets().UseTls(tls => tls.TargetHost = "localhost").Build();

        var refused = await Assert.ThrowsAsync<AuthenticationException>(async () => await factory.ConnectAsync(host.EndPoint, Timeout));
        Assert.Contains(nameof(X509ChainStatusFlags.UntrustedRoot), refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnExpiredServerCertificateFailsTheConnectAsNotTimeValid()
    {
        var expired = TestCertificates.Create("localhost", serverAuth: true, DateTimeOffset.UtcNow.AddDays(-10), DateTimeOffset.UtcNow.AddDays(-1));
        var (host, _) = await StartTlsEchoAsync(serverCertificate: expired);
        await using var _ = host;
        var factory = new ClientBuilder().UseSockets().UseTls(tls => tls.TargetHost = "localhost").Build();

        // The system's validation names every fault of the chain: the expiry, beside the untrusted test root.
        var refused = await Assert.ThrowsAsync<AuthenticationException>(async () => await factory.ConnectAsync(host.EndPoint, Timeout));
        Assert.Contains(nameof(X509ChainStatusFlags.NotTimeValid), refused.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(X509ChainStatusFlags.UntrustedRoot), refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestResponseRunsOverTls()
    {
        var (host, _) = await StartTlsEchoAsync();
        await using var _ = host;
        var factory = new ClientBuilder().UseSockets().UseTls(tls => tls.RemoteCertificateValidation = TrustsTestServer).Build();
        await using var client = await ProtocolClient.ConnectAsync(factory, host.EndPoint, EchoProtocol.CreateReader().Select(static f => f.ToArray()), EchoProtocol.Writer);

        var requests = Enumerable.Range(0, 1000).Select(i => client.RequestAsync(new ReadOnlySequence<byte>(BitConverter.GetBytes(i))).AsTask()).ToArray();

        for (var i = 0; i < requests.Length; i++)
        {
            Assert.Equal(BitConverter.GetBytes(i), await requests[i].WaitAsync(TestClient.Timeout));
        }
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task TheStreamAdaptersUpgradeAConnectionInBand(TransportKind transport)
    {
        // STARTTLS: plain text first, then both sides put TLS on the same connection with the public adapters.
        await using var host = await TestHost.StartAsync(transport, listen =>
        {
            listen.Use(next => async connection =>
            {
                var command = await connection.Transport.Input.ReceiveMessageAsync(DelimiterFrameReader.Lines(), static l => l.ToArray(), Timeout);
                Assert.Equal("STARTTLS"u8.ToArray(), command);
                await connection.Transport.Output.WriteAsync("OK\n"u8.ToArray());
                await using var ssl = new SslStream(new DuplexPipeStream(connection.Transport));
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = TestCertificates.Server }, Timeout);
                connection.Transport = StreamDuplexPipe.Create(ssl, leaveOpen: true);
                await next(connection);
            });
            listen.UseEcho();
        });
        await using var connection = await host.ClientFactory().ConnectAsync(host.EndPoint, Timeout);

        await connection.Transport.Output.WriteAsync("STARTTLS\n"u8.ToArray());
        Assert.Equal("OK"u8.ToArray(), await connection.Transport.Input.ReceiveMessageAsync(DelimiterFrameReader.Lines(), static l => l.ToArray(), Timeout));
        await using var ssl = new SslStream(new DuplexPipeStream(connection.Transport), leaveInnerStreamOpen: true, TrustsTestServer);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, Timeout);
        var secured = StreamDuplexPipe.Create(ssl, leaveOpen: true);

        await secured.Output.WriteAsync(TestClient.Frame([42]));
        Assert.Equal([42], await secured.Input.ReceiveMessageAsync(EchoProtocol.CreateReader(), static f => f.ToArray(), Timeout));
        Assert.True(ssl.IsEncrypted);
        await secured.Output.CompleteAsync();
        await secured.Input.CompleteAsync();
    }

    private sealed class ServerSideTls
    {
        public string? ServerName { get; set; }

        public X509Certificate2? ClientCertificate { get; set; }
    }
}
