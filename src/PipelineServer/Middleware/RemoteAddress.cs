using System.Net;
using Microsoft.AspNetCore.Connections;

namespace PipelineServer.Middleware;

internal static class RemoteAddress
{
    // The peer's IP address, IPv4-mapped IPv6 addresses as IPv4 (a dual-stack listener reports IPv4 peers that way), or
    // null for peers without one (Unix sockets, the in-memory transport).
    public static IPAddress? Of(ConnectionContext connection)
    {
        if (connection.RemoteEndPoint is not IPEndPoint endPoint)
        {
            return null;
        }

        var address = endPoint.Address;
        return address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
    }
}
