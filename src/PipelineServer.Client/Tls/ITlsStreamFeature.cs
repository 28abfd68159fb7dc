using System.Net.Security;

namespace PipelineServer.Client;

/// <summary>
/// On a connection secured by <see cref="ClientBuilder.UseTls"/>: the TLS stream, for the negotiated protocol
/// (<see cref="SslStream.NegotiatedApplicationProtocol"/>), the server's certificate and the like.
/// </summary>
public interface ITlsStreamFeature
{
    /// <summary>The authenticated TLS stream under the connection's pipes.</summary>
    SslStream SslStream { get; }
}
