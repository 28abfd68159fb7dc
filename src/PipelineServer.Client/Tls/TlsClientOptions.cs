using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace PipelineServer.Client;

/// <summary>Options for TLS on client connections (<see cref="ClientBuilder.UseTls"/>).</summary>
public sealed class TlsClientOptions
{
    /// <summary>
    /// The server's name: sent as SNI and checked against the server's certificate. When <see langword="null"/>, the host
    /// of the <see cref="System.Net.DnsEndPoint"/> connected to, or the IP address.
    /// </summary>
    public string? TargetHost { get; set; }

    /// <summary>The application protocols offered with ALPN, in order of preference; none by default.</summary>
    public IList<SslApplicationProtocol> ApplicationProtocols { get; } = [];

    /// <summary>A certificate to present when the server asks for one (mutual TLS).</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>
    /// Decides whether to trust the server's certificate. When <see langword="null"/>, the system's validation applies
    /// (a trusted chain whose name matches <see cref="TargetHost"/>).
    /// </summary>
    public RemoteCertificateValidationCallback? RemoteCertificateValidation { get; set; }

    /// <summary>The TLS versions allowed; the system's choice by default.</summary>
    public SslProtocols EnabledProtocols { get; set; } = SslProtocols.None;

    /// <summary>Whether to check the server certificate's revocation status. Off by default.</summary>
    public X509RevocationMode CertificateRevocationCheckMode { get; set; } = X509RevocationMode.NoCheck;

    /// <summary>How long the handshake may take; 10 seconds by default.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
