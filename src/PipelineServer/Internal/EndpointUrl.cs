using System.Globalization;
using System.Net;
using System.Net.Sockets;
using PipelineServer.Transports.Memory;

namespace PipelineServer.Internal;

internal enum EndpointKind
{
    Address,
    Localhost,
    AnyIP,
}

internal readonly record struct ParsedEndpoint(EndpointKind Kind, EndPoint? EndPoint, int Port);

// PipelineServer's endpoint URLs: tcp://host:port, unix:/path/to.sock and memory:name. HTTP schemes are refused on
// purpose: a PipelineServer endpoint serves no HTTP, and an http:// URL here is almost always a mistake.
internal static class EndpointUrl
{
    private const string Hint = "Use tcp://host:port (host: an IP address, localhost or *), unix:/path/to.sock or memory:name.";

    public static ParsedEndpoint Parse(string url)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        if (url.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            var path = url["unix:".Length..];
            if (path.StartsWith("//", StringComparison.Ordinal))
            {
                path = path[2..];
            }

            if (path.Length == 0)
            {
                throw Invalid(url, "The socket path is empty.");
            }

            return new(EndpointKind.Address, new UnixDomainSocketEndPoint(path), 0);
        }

        if (url.StartsWith("memory:", StringComparison.OrdinalIgnoreCase))
        {
            var name = url["memory:".Length..];
            if (name.Length == 0)
            {
                throw Invalid(url, "The name is empty.");
            }

            return new(EndpointKind.Address, new MemoryEndPoint(name), 0);
        }

        if (!url.StartsWith("tcp://", StringComparison.OrdinalIgnoreCase))
        {
            var reason = url.StartsWith("http", StringComparison.OrdinalIgnoreCase)
                ? "PipelineServer endpoints serve no HTTP; add HTTP endpoints to Kestrel itself."
                : "Unknown scheme.";
            throw Invalid(url, reason);
        }

        var authority = url["tcp://".Length..].TrimEnd('/');
        var colon = authority.LastIndexOf(':');
        if (colon <= 0 || authority.EndsWith(']'))
        {
            throw Invalid(url, "The port is missing.");
        }

        var host = authority[..colon];
        if (!int.TryParse(authority.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > IPEndPoint.MaxPort)
        {
            throw Invalid(url, "The port must be a number from 0 to 65535.");
        }

        if (host is "*" or "+")
        {
            return new(EndpointKind.AnyIP, null, port);
        }

        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return new(EndpointKind.Localhost, null, port);
        }

        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        if (!IPAddress.TryParse(host, out var address))
        {
            throw Invalid(url, $"'{host}' is not an IP address; host names other than localhost are not resolved.");
        }

        return new(EndpointKind.Address, new IPEndPoint(address, port), port);
    }

    public static string Format(EndPoint endPoint) => endPoint switch
    {
        IPEndPoint ip => "tcp://" + ip,
        UnixDomainSocketEndPoint unix => "unix:" + unix,
        MemoryEndPoint memory => memory.ToString(),
        _ => endPoint.ToString() ?? endPoint.GetType().Name,
    };

    private static FormatException Invalid(string url, string reason) =>
        new($"'{url}' is not a PipelineServer endpoint URL. {reason} {Hint}");
}
