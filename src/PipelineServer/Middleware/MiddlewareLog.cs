using Microsoft.Extensions.Logging;

namespace PipelineServer.Middleware;

// Event ids are stable: never renumber them. Next free id: 11.
// Peers' faults (timeouts, rejections, rate limits) are logged per connection at Debug only; PeerFaultLog counts them and
// writes one Warning a period that summarises them, so no peer can flood the log.
internal static partial class MiddlewareLog
{
    public const string CategoryName = "PipelineServer.Connections";

    [LoggerMessage(1, LogLevel.Debug, "Connection {ConnectionId} from {RemoteAddress} rejected: {Limit} connections from that address are already open.", EventName = "PerIpLimitReached")]
    public static partial void PerIpLimitReached(ILogger logger, string connectionId, string remoteAddress, int limit);

    [LoggerMessage(2, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} closed: {Reason}.", EventName = "ConnectionTimedOut")]
    public static partial void ConnectionTimedOut(ILogger logger, string connectionId, string? remoteEndPoint, string reason);

    [LoggerMessage(3, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} rejected: bad PROXY protocol header ({Reason}).", EventName = "ProxyHeaderRejected")]
    public static partial void ProxyHeaderRejected(ILogger logger, string connectionId, string? remoteEndPoint, string reason);

    [LoggerMessage(4, LogLevel.Debug, "Connection {ConnectionId}: PROXY protocol header gives client {ClientEndPoint} (proxy {ProxyEndPoint}).", EventName = "ProxyHeaderAccepted")]
    public static partial void ProxyHeaderAccepted(ILogger logger, string connectionId, string? clientEndPoint, string? proxyEndPoint);

    [LoggerMessage(5, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} closed: over its message rate limit.", EventName = "RateLimitExceeded")]
    public static partial void RateLimitExceeded(ILogger logger, string connectionId, string? remoteEndPoint);

    [LoggerMessage(6, LogLevel.Information, "Connection {ConnectionId} opened from {RemoteEndPoint} on {LocalEndPoint}.", EventName = "ConnectionOpened")]
    public static partial void ConnectionOpened(ILogger logger, string connectionId, string? remoteEndPoint, string? localEndPoint);

    [LoggerMessage(7, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint} closed after {DurationMs} ms ({Reason}).", EventName = "ConnectionClosed")]
    public static partial void ConnectionClosed(ILogger logger, string connectionId, string? remoteEndPoint, long durationMs, string reason);

    [LoggerMessage(8, LogLevel.Debug, "Connection {ConnectionId} {Direction} {Length} bytes{Truncated}:\n{Dump}", EventName = "HexDump")]
    public static partial void HexDump(ILogger logger, string connectionId, string direction, int length, string truncated, string dump);

    [LoggerMessage(9, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} rejected: it is not in the PROXY protocol's trusted networks.", EventName = "ProxyUntrustedPeer")]
    public static partial void ProxyUntrustedPeer(ILogger logger, string connectionId, string? remoteEndPoint);

    [LoggerMessage(10, LogLevel.Debug, "Connection {ConnectionId} ended: {Reason}.", EventName = "ConnectionEnded")]
    public static partial void ConnectionEnded(ILogger logger, string connectionId, string reason);
}
