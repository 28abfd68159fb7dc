namespace PipelineServer;

/// <summary>The per-IP connection limit (<see cref="ConnectionMiddlewareExtensions.UseConnectionLimitPerIp(Microsoft.AspNetCore.Connections.IConnectionBuilder, Action{ConnectionLimitPerIpOptions})"/>).</summary>
public sealed class ConnectionLimitPerIpOptions
{
    /// <summary>The most connections one address may hold open. Required.</summary>
    public int Limit { get; set; }

    /// <summary>
    /// The IPv6 prefix counted as one address, 0 to 128; 64 by default (a host is routinely given a whole /64).
    /// IPv4-mapped IPv6 addresses count as IPv4.
    /// </summary>
    public int IPv6PrefixLength { get; set; } = 64;

    /// <summary>
    /// Bytes written to a refused connection before it is closed, in the protocol's own words where it has them (RESP:
    /// <c>-ERR max number of clients reached\r\n</c>, as redis-server says); empty (the default) to close without a word.
    /// </summary>
    public ReadOnlyMemory<byte> RefusalMessage { get; set; }
}
