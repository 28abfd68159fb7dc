using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using EchoServer;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using PipelineServer.Testing;
using PipelineServer.Tests.Infrastructure;
using static PipelineServer.Tests.Middleware.MiddlewareTestKit;

namespace PipelineServer.Tests.Middleware;

public class TlsServerTests
{
    private static readonly SslApplicationProtocol s_alpn = new("echo/1");
    private static readonly Lazy<X509Certificate2> s_otherSite = new(() => TestCertificates.Create("other.test", serverAuth: true));

    // A private certificate authority (trusted by no machine), a client certificate it issued, and an impostor: a
    // certificate with the same subject from another authority of the same name.
    private static readonly Lazy<X509Certificate2> s_authority = new(() => TestCertificates.CreateAuthority("PipelineServer Test CA"));
    private static readonly Lazy<X509Certificate2> s_issuedClient = new(() => TestCertificates.Issue(s_authority.Value, "issued-client", serverAuth: false));
    private static readonly Lazy<X509Certificate2> s_impostorClient = new(() =>
        TestCertificates.Issue(TestCertificates.CreateAuthority("PipelineServer Test CA"), "issued-client", serverAuth: false));

    private static CancellationToken Timeout => new CancellationTokenSource(TestClient.Timeout).Token;

    private static Task<TestHost> StartAsync(TransportKind transport, Action<TlsServerOptions>? configure = null, IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>? handler = null) =>
        TestHost.StartAsync(transport, listen =>
        {
            listen.UseTls(tls =>
            {
                tls.ServerCertificate = TestCertificates.Server;
                tls.ServerCertificateSelector = static (_, name) => name == "other.test" ? s_otherSite.Value : null;
                tls.ApplicationProtocols.Add(s_alpn);
                configure?.Invoke(tls);
            });
            listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler ?? new ClientCertificateEcho());
        });

    private static async Task<(Microsoft.AspNetCore.Connections.ConnectionContext Connection, X509Certificate? ServerCertificate)> ConnectAsync(
        TestHost host, string targetHost, X509Certificate2? clientCertificate = null, SslApplicationProtocol? alpn = null)
    {
        X509Certificate? seen = null;
        var factory = host.ClientFactory(builder => builder.UseTls(tls =>
        {
            tls.TargetHost = targetHost;
            tls.ApplicationProtocols.Add(alpn ?? s_alpn);
            tls.ClientCertificate = clientCertificate;
            tls.RemoteCertificateValidation = (_, certificate, _, _) =>
            {
                seen = certificate;
                return true;
            };
        }));
        var connection = await factory.ConnectAsync(host.EndPoint, Timeout);
        return (connection, seen);
    }

    private static async Task<byte[]> EchoAsync(Microsoft.AspNetCore.Connections.ConnectionContext connection, byte[] payload)
    {
        await connection.Transport.Output.WriteAsync(TestClient.Frame(payload), Timeout);
        return await connection.Transport.Input.ReceiveMessageAsync(EchoProtocol.CreateReader(), static f => f.ToArray(), Timeout);
    }

    // What a refused client certificate looks like to the client, over TLS 1.2 and 1.3 alike: its own handshake completes
    // (the server checks the certificate once the TLS exchange is over), then its first read finds the end of the stream:
    // no bytes, no TLS alert. The client does not write first: a request that reached the server after it stopped
    // reading could turn the close into a reset. The server logs the refusal at Debug (Kestrel's AuthenticationFailed).
    private static async Task AssertCertificateRefusedAsync(TestHost host, Microsoft.AspNetCore.Connections.ConnectionContext connection)
    {
        Assert.Empty(await connection.Transport.Input.ReceiveToEndAsync(Timeout));
        var refusal = await host.Logs.WaitForEventAsync("AuthenticationFailed");
        Assert.Equal(typeof(AuthenticationException), refusal.Exception?.GetType());
        Assert.Contains("rejected by the provided RemoteCertificateValidationCallback", refusal.Exception!.Message, StringComparison.Ordinal);
    }

    private static bool IssuedByTheTestAuthority(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(s_authority.Value);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task NegotiatesTheProtocolsOwnAlpnNameAndPicksTheCertificateByServerName(TransportKind transport)
    {
        await using var host = await StartAsync(transport);

        var (first, firstCertificate) = await ConnectAsync(host, "localhost");
        await using (first)
        {
            Assert.Equal([1, 2, 3], await EchoAsync(first, [1, 2, 3]));
            Assert.Equal(s_alpn, first.Features.Get<PipelineServer.Client.ITlsStreamFeature>()!.SslStream.NegotiatedApplicationProtocol);
            Assert.Equal(TestCertificates.Server.GetCertHashString(), firstCertificate!.GetCertHashString());
        }

        var (second, secondCertificate) = await ConnectAsync(host, "other.test");
        await using (second)
        {
            Assert.Equal([4], await EchoAsync(second, [4]));
            Assert.Equal(s_otherSite.Value.GetCertHashString(), secondCertificate!.GetCertHashString());
        }
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task RequiresAndExposesClientCertificatesForMutualTls(TransportKind transport)
    {
        await using var host = await StartAsync(transport, tls =>
        {
            tls.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            tls.ClientCertificateValidation = static (certificate, _, _) => certificate.GetCertHashString() == TestCertificates.Client.GetCertHashString();
        });

        var (anonymous, _) = await ConnectAsync(host, "localhost");
        await using (anonymous)
        {
            await AssertCertificateRefusedAsync(host, anonymous);
        }

        var (authenticated, _) = await ConnectAsync(host, "localhost", TestCertificates.Client);
        await using (authenticated)
        {
            Assert.Equal("CN=test-client", Encoding.ASCII.GetString(await EchoAsync(authenticated, [1])));
        }
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AClientCertificateFromAnUntrustedIssuerIsRefusedWhileAnonymousClientsAreServed(TransportKind transport)
    {
        // AllowCertificate without ClientCertificateValidation: no certificate is fine, but one that is offered must chain
        // to a root the machine trusts.
        await using var host = await StartAsync(transport, static tls => tls.ClientCertificateMode = ClientCertificateMode.AllowCertificate);

        var (untrusted, _) = await ConnectAsync(host, "localhost", s_issuedClient.Value);
        await using (untrusted)
        {
            await AssertCertificateRefusedAsync(host, untrusted);
        }

        var (anonymous, _) = await ConnectAsync(host, "localhost");
        await using (anonymous)
        {
            Assert.Equal([5], await EchoAsync(anonymous, [5]));
        }
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ClientCertificateValidationReplacesTheChainCheck(TransportKind transport)
    {
        var errorsSeen = new List<SslPolicyErrors>();
        await using var host = await StartAsync(transport, tls =>
        {
            tls.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            tls.ClientCertificateValidation = (certificate, _, errors) =>
            {
                lock (errorsSeen)
                {
                    errorsSeen.Add(errors);
                }

                return IssuedByTheTestAuthority(certificate);
            };
        });

        // Same subject, another authority: the validation says no.
        var (impostor, _) = await ConnectAsync(host, "localhost", s_impostorClient.Value);
        await using (impostor)
        {
            await AssertCertificateRefusedAsync(host, impostor);
        }

        // Issued by the private authority, which the machine does not trust: the chain check alone would refuse it.
        var (issued, _) = await ConnectAsync(host, "localhost", s_issuedClient.Value);
        await using (issued)
        {
            Assert.Equal("CN=issued-client", Encoding.ASCII.GetString(await EchoAsync(issued, [1])));
        }

        lock (errorsSeen)
        {
            Assert.Equal([SslPolicyErrors.RemoteCertificateChainErrors, SslPolicyErrors.RemoteCertificateChainErrors], errorsSeen);
        }
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AClientOfferingOnlyAnotherAlpnNameFailsTheHandshakeWithNoApplicationProtocol(TransportKind transport)
    {
        await using var host = await StartAsync(transport);

        // The server answers with TLS's no_application_protocol alert; the client's handshake fails at connect.
        var refused = await Assert.ThrowsAsync<AuthenticationException>(() => ConnectAsync(host, "localhost", alpn: new SslApplicationProtocol("other/1")));
        Assert.Contains("no application protocol", Messages(refused), StringComparison.Ordinal);
        var logged = await host.Logs.WaitForEventAsync("AuthenticationFailed");
        Assert.Contains("no application protocol", Messages(logged.Exception), StringComparison.Ordinal);

        var (good, _) = await ConnectAsync(host, "localhost");
        await using (good)
        {
            Assert.Equal([6], await EchoAsync(good, [6]));
        }
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task APlaintextClientOnATlsEndpointIsClosedWithoutDisturbingOthers(TransportKind transport)
    {
        await using var host = await StartAsync(transport);
        var (secure, _) = await ConnectAsync(host, "localhost");
        await using var _ = secure;
        await using var plaintext = await host.ConnectAsync();

        await plaintext.SendFrameAsync(new byte[] { 1, 2, 3 });

        await AssertClosedWithoutReplyAsync(plaintext);
        Assert.Equal([9], await EchoAsync(secure, [9]));
        Assert.Empty(host.Errors);
    }

    [Fact]
    public async Task AStalledHandshakeIsClosedAfterTheHandshakeTimeout()
    {
        await using var host = await StartAsync(TransportKind.Sockets, tls => tls.HandshakeTimeout = TimeSpan.FromSeconds(1));
        var (secure, _) = await ConnectAsync(host, "localhost");
        await using var _ = secure;
        await using var stalled = await host.ConnectAsync();

        await stalled.SendAsync(new byte[] { 0x16, 0x03, 0x01 }); // the start of a ClientHello, then nothing

        await AssertClosedWithoutReplyAsync(stalled);
        Assert.Equal([9], await EchoAsync(secure, [9]));
        Assert.Empty(host.Errors);
    }

    [Fact]
    public async Task OpensslSClientNegotiatesAlpnAndGetsItsEcho()
    {
        await using var host = await StartAsync(TransportKind.Sockets, handler: new PlainEcho());
        var port = ((IPEndPoint)host.EndPoint).Port;
        var start = new ProcessStartInfo("openssl", $"s_client -connect 127.0.0.1:{port} -servername localhost -alpn echo/1")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var openssl = Process.Start(start)!;
        var errors = new StringBuilder();
        openssl.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                errors.AppendLine(e.Data);
            }
        };
        openssl.BeginErrorReadLine();
        try
        {
            const string Payload = "hello from openssl";
            var frame = TestClient.Frame(Encoding.ASCII.GetBytes(Payload));
            await openssl.StandardInput.BaseStream.WriteAsync(frame, Timeout);
            await openssl.StandardInput.BaseStream.FlushAsync(Timeout);

            var output = new StringBuilder();
            var buffer = new char[4096];
            while (!output.ToString().Contains(Payload, StringComparison.Ordinal))
            {
                var read = await openssl.StandardOutput.ReadAsync(buffer, Timeout);
                if (read == 0)
                {
                    await openssl.WaitForExitAsync(Timeout);
                    lock (errors)
                    {
                        Assert.Fail($"openssl s_client ended before the echo: {output} {errors}");
                    }
                }

                output.Append(buffer, 0, read);
            }

            Assert.Contains("ALPN protocol: echo/1", output.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            openssl.Kill();
            await openssl.WaitForExitAsync(Timeout);
        }
    }

    private static string Messages(Exception? exception)
    {
        var messages = new StringBuilder();
        for (; exception is not null; exception = exception.InnerException)
        {
            messages.Append(exception.Message).Append(" | ");
        }

        return messages.ToString();
    }

    // Answers every message with the subject of the client's certificate, or echoes it when there is none.
    private sealed class ClientCertificateEcho : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            var certificate = session.Connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;
            session.Write(certificate is null ? message : new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(certificate.Subject)));
            return default;
        }
    }

    private sealed class PlainEcho : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            session.Write(message);
            return default;
        }
    }
}
