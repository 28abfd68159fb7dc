using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace PipelineServer;

/// <summary>TLS on a PipelineServer endpoint.</summary>
public static class TlsListenOptionsExtensions
{
    /// <summary>
    /// Adds TLS to the endpoint with Kestrel's TLS middleware (<c>UseHttps</c>), configured for a non-HTTP protocol: an
    /// explicit ALPN list, SNI certificate selection, optional client certificates and a handshake timeout. Call it before
    /// the middleware that should see decrypted bytes (and after a PROXY protocol middleware, whose header comes first).
    /// A client that does not complete the handshake (plaintext, garbage, stalled) is closed; Kestrel logs it at Debug
    /// and counts it in <c>kestrel.tls_handshake.duration</c>.
    /// </summary>
    /// <param name="listenOptions">The endpoint.</param>
    /// <param name="configure">Sets the certificate and the other options.</param>
    /// <returns>The endpoint.</returns>
    public static ListenOptions UseTls(this ListenOptions listenOptions, Action<TlsServerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new TlsServerOptions();
        configure(options);
        if (options.ServerCertificate is null && options.ServerCertificateSelector is null)
        {
            throw new ArgumentException("TLS needs a ServerCertificate or a ServerCertificateSelector.", nameof(configure));
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.HandshakeTimeout, TimeSpan.Zero, nameof(options.HandshakeTimeout));
        var protocols = options.ApplicationProtocols.Count == 0 ? null : new List<SslApplicationProtocol>(options.ApplicationProtocols);
        var mode = options.ClientCertificateMode;
        var validate = options.ClientCertificateValidation;

        return listenOptions.UseHttps(new TlsHandshakeCallbackOptions
        {
            HandshakeTimeout = options.HandshakeTimeout,
            OnConnection = context =>
            {
                var certificate = options.ServerCertificateSelector?.Invoke(context.Connection, context.ClientHelloInfo.ServerName)
                    ?? options.ServerCertificate
                    ?? throw new InvalidOperationException($"No certificate for host name '{context.ClientHelloInfo.ServerName}'.");
                return ValueTask.FromResult(new SslServerAuthenticationOptions
                {
                    ServerCertificate = certificate,
                    ApplicationProtocols = protocols,
                    EnabledSslProtocols = options.EnabledProtocols,
                    ClientCertificateRequired = mode is ClientCertificateMode.RequireCertificate or ClientCertificateMode.AllowCertificate,
                    RemoteCertificateValidationCallback = (_, certificate, chain, errors) => ValidateClient(mode, validate, certificate, chain, errors),
                });
            },
        });
    }

    private static bool ValidateClient(
        ClientCertificateMode mode,
        Func<X509Certificate2, X509Chain?, SslPolicyErrors, bool>? validate,
        X509Certificate? certificate,
        X509Chain? chain,
        SslPolicyErrors errors)
    {
        if (mode == ClientCertificateMode.NoCertificate)
        {
            return true;
        }

        if (certificate is null)
        {
            return mode != ClientCertificateMode.RequireCertificate;
        }

        var certificate2 = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return validate is not null
            ? validate(certificate2, chain, errors & ~SslPolicyErrors.RemoteCertificateNotAvailable)
            : errors == SslPolicyErrors.None;
    }
}
