using System.Net;
using System.Net.Sockets;
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

    // The peer's address as per-IP limits count it: an IPv4 address alone, an IPv6 address with only its first
    // ipv6PrefixLength bits kept (one host is routinely given a whole /64, so counting per /128 would let it open 2^64
    // times the limit). Null for peers without an IP address.
    public static IPAddress? GroupOf(ConnectionContext connection, int ipv6PrefixLength)
    {
        var address = Of(connection);
        if (address is null || address.AddressFamily != AddressFamily.InterNetworkV6 || ipv6PrefixLength >= 128)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        var whole = ipv6PrefixLength / 8;
        if (whole < 16)
        {
            bytes[whole] &= (byte)(0xFF << (8 - (ipv6PrefixLength % 8)));
            bytes[(whole + 1)..].Clear();
        }

        return new IPAddress(bytes);
    }

    // How a group appears in logs: "2001:db8::/64", or the IPv4 address.
    public static string Describe(IPAddress group, int ipv6PrefixLength) =>
        group.AddressFamily == AddressFamily.InterNetworkV6 && ipv6PrefixLength < 128 ? $"{group}/{ipv6PrefixLength}" : group.ToString();

    public static void ValidatePrefixLength(int ipv6PrefixLength, string name) =>
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)ipv6PrefixLength, 128u, name);
}
