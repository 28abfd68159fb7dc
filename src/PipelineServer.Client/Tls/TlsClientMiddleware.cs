using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Client.Internal;
using PipelineServer.Streams;

namespace PipelineServer.Client.Tls;

// Client TLS as connection middleware: an SslStream over the connection's pipes, and the connection's pipes replaced by
// pipes over the SslStream for as long as the rest of the chain runs.
internal sealed class TlsClientMiddleware(TlsClientOptions options)
{
    public ConnectionDelegate Create(ConnectionDelegate next) => connection => RunAsync(connection, next);

    private async Task RunAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var transport = connection.Transport;
        var ssl = new SslStream(new DuplexPipeStream(transport), leaveInnerStreamOpen: false);
        await using (ssl.ConfigureAwait(false))
        {
            using (var timeout = new CancellationTokenSource(options.HandshakeTimeout))
            {
                try
                {
                    await ssl.AuthenticateAsClientAsync(CreateAuthenticationOptions(connection), timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException ex) when (timeout.IsCancellationRequested)
                {
                    throw new TimeoutException($"The TLS handshake did not complete within {options.HandshakeTimeout.TotalSeconds:0.###} s.", ex);
                }
            }

            var secured = StreamDuplexPipe.Create(ssl, leaveOpen: true);
            connection.Transport = secured;
            connection.Features.Set<ITlsStreamFeature>(new TlsStreamFeature(ssl));
            try
            {
                await next(connection).ConfigureAwait(false);
            }
            finally
            {
                // Send what the application wrote, then close the TLS session (close_notify) if the peer is still there.
                await secured.Output.CompleteAsync().ConfigureAwait(false);
                await secured.Input.CompleteAsync().ConfigureAwait(false);
                connection.Transport = transport;
                try
                {
                    await ssl.ShutdownAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
                {
                }
            }
        }
    }

    private SslClientAuthenticationOptions CreateAuthenticationOptions(ConnectionContext connection)
    {
        var authentication = new SslClientAuthenticationOptions
        {
            TargetHost = options.TargetHost ?? DefaultTargetHost(connection),
            EnabledSslProtocols = options.EnabledProtocols,
            CertificateRevocationCheckMode = options.CertificateRevocationCheckMode,
            RemoteCertificateValidationCallback = options.RemoteCertificateValidation,
        };

        if (options.ApplicationProtocols.Count > 0)
        {
            authentication.ApplicationProtocols = [.. options.ApplicationProtocols];
        }

        if (options.ClientCertificate is { } certificate)
        {
            authentication.ClientCertificates = new X509CertificateCollection { certificate };
            authentication.LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate;
        }

        return authentication;
    }

    private static string? DefaultTargetHost(ConnectionContext connection) =>
        (connection.Items.TryGetValue(ClientConnectionFactory.RequestedEndPointKey, out var requested) ? requested : connection.RemoteEndPoint) switch
        {
            DnsEndPoint dns => dns.Host,
            IPEndPoint ip => ip.Address.ToString(),
            _ => null,
        };

    private sealed class TlsStreamFeature(SslStream stream) : ITlsStreamFeature
    {
        public SslStream SslStream { get; } = stream;
    }
}
