using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PipelineServer.Tests.Infrastructure;

/// <summary>Certificates made at test time; none is ever committed and none is trusted by the machine.</summary>
public static class TestCertificates
{
    private static readonly Lazy<X509Certificate2> s_server = new(() => Create("localhost", serverAuth: true));
    private static readonly Lazy<X509Certificate2> s_client = new(() => Create("test-client", serverAuth: false));

    public static X509Certificate2 Server => s_server.Value;

    public static X509Certificate2 Client => s_client.Value;

    /// <summary>A self-signed leaf certificate, valid from 5 minutes ago for a day.</summary>
    public static X509Certificate2 Create(string name, bool serverAuth) =>
        Create(name, serverAuth, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

    /// <summary>A self-signed leaf certificate valid from <paramref name="notBefore"/> to <paramref name="notAfter"/> (in the past for an expired one).</summary>
    public static X509Certificate2 Create(string name, bool serverAuth, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = LeafRequest(name, serverAuth, key);
        using var certificate = request.CreateSelfSigned(notBefore, notAfter);
        return WithUsablePrivateKey(certificate);
    }

    /// <summary>A certificate authority (self-signed, allowed to sign certificates), valid from 5 minutes ago for a day.</summary>
    public static X509Certificate2 CreateAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return WithUsablePrivateKey(certificate);
    }

    /// <summary>A leaf certificate signed by <paramref name="authority"/> (made by <see cref="CreateAuthority"/>), valid for the hour around now.</summary>
    public static X509Certificate2 Issue(X509Certificate2 authority, string name, bool serverAuth)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = LeafRequest(name, serverAuth, key);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // positive
        using var signed = request.Create(authority, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(55), serial);
        using var withKey = signed.CopyWithPrivateKey(key);
        return WithUsablePrivateKey(withKey);
    }

    private static CertificateRequest LeafRequest(string name, bool serverAuth, ECDsa key)
    {
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var alternativeNames = new SubjectAlternativeNameBuilder();
        alternativeNames.AddDnsName(name);
        alternativeNames.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(alternativeNames.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")],
            critical: false));
        return request;
    }

    // Round-trip through PKCS#12 so that the private key is usable by SslStream on every platform.
    private static X509Certificate2 WithUsablePrivateKey(X509Certificate2 certificate) =>
        X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), password: null);
}
