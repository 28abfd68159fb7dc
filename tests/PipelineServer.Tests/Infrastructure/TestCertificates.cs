using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PipelineServer.Tests.Infrastructure;

/// <summary>Self-signed certificates made at test time; none is ever committed.</summary>
public static class TestCertificates
{
    private static readonly Lazy<X509Certificate2> s_server = new(() => Create("localhost", serverAuth: true));
    private static readonly Lazy<X509Certificate2> s_client = new(() => Create("test-client", serverAuth: false));

    public static X509Certificate2 Server => s_server.Value;

    public static X509Certificate2 Client => s_client.Value;

    public static X509Certificate2 Create(string name, bool serverAuth)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var alternativeNames = new SubjectAlternativeNameBuilder();
        alternativeNames.AddDnsName(name);
        alternativeNames.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(alternativeNames.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")],
            critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Round-trip through PKCS#12 so that the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), password: null);
    }
}
