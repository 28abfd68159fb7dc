using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace PipelineServer;

/// <summary>TLS for a PipelineServer endpoint, applied through Kestrel's <c>UseHttps</c> handshake callback.</summary>
public sealed class TlsServerOptions
{
    /// <summary>The certificate, when one serves every host name. Load one with <see cref="X509CertificateLoader"/>.</summary>
    public X509Certificate2? ServerCertificate { get; set; }

    /// <summary>
    /// Chooses the certificate by the host name the client asked for (SNI; <see langword="null"/> when it sent none).
    /// Returning <see langword="null"/> falls back to <see cref="ServerCertificate"/>; with neither, the handshake fails.
    /// </summary>
    public Func<ConnectionContext, string?, X509Certificate2?>? ServerCertificateSelector { get; set; }

    /// <summary>Whether clients are asked for a certificate (mutual TLS). Defaults to <see cref="ClientCertificateMode.NoCertificate"/>.</summary>
    public ClientCertificateMode ClientCertificateMode { get; set; } = ClientCertificateMode.NoCertificate;

    /// <summary>
    /// Validates a client certificate. Without it a client certificate must chain to a trusted root with no errors. The
    /// certificate is then available to handlers as <c>ITlsConnectionFeature.ClientCertificate</c>.
    /// </summary>
    public Func<X509Certificate2, X509Chain?, SslPolicyErrors, bool>? ClientCertificateValidation { get; set; }

    /// <summary>
    /// The ALPN protocol names the server accepts, in order of preference (for example <c>new SslApplicationProtocol("myproto")</c>).
    /// Empty (the default) negotiates no ALPN at all, where Kestrel's own defaults would offer HTTP's names, failing
    /// clients that offer their own.
    /// </summary>
    public IList<SslApplicationProtocol> ApplicationProtocols { get; } = [];

    /// <summary>The TLS versions allowed; <see cref="SslProtocols.None"/> (the default) lets the operating system choose.</summary>
    public SslProtocols EnabledProtocols { get; set; } = SslProtocols.None;

    /// <summary>How long a client has to complete the handshake. Defaults to 10 seconds.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
