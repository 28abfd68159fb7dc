using Microsoft.Extensions.Logging;
using PipelineServer.Protocols;

namespace PipelineServer.Internal;

// Event ids are stable: never renumber them. Next free id: 9.
internal static partial class Log
{
    public const string CategoryName = "PipelineServer.Protocol";

    // Peers' faults are logged at Debug only, and counted in PeerFaultLog's summary: no peer can flood the log.
    [LoggerMessage(1, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} violated the protocol ({Kind}) and was closed: {Reason}", EventName = "ProtocolError")]
    public static partial void ProtocolError(ILogger logger, string connectionId, string? remoteEndPoint, ProtocolErrorKind kind, string reason);

    [LoggerMessage(2, LogLevel.Debug, "Connection {ConnectionId} ended abruptly: {Reason}", EventName = "ConnectionEndedAbruptly")]
    public static partial void ConnectionEndedAbruptly(ILogger logger, string connectionId, string reason);

    [LoggerMessage(3, LogLevel.Error, "The message handler failed on connection {ConnectionId}; the connection was closed.", EventName = "HandlerError")]
    public static partial void HandlerError(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(4, LogLevel.Error, "{Callback} failed on connection {ConnectionId}.", EventName = "CallbackError")]
    public static partial void CallbackError(ILogger logger, string callback, string connectionId, Exception exception);

    [LoggerMessage(5, LogLevel.Debug, "Connection {ConnectionId} closed for server shutdown, after answering the messages it had received ({BytesIn} bytes in, {MessagesOut} messages out).", EventName = "ConnectionDrained")]
    public static partial void ConnectionDrained(ILogger logger, string connectionId, long bytesIn, long messagesOut);

    [LoggerMessage(6, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} was aborted: it held {Limit} bytes of output that the peer had not taken.", EventName = "OutputLimitExceeded")]
    public static partial void OutputLimitExceeded(ILogger logger, string connectionId, string? remoteEndPoint, long limit);

    [LoggerMessage(7, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} failed in its transport and was closed: {Reason}", EventName = "TransportError")]
    public static partial void TransportError(ILogger logger, string connectionId, string? remoteEndPoint, string reason);

    [LoggerMessage(8, LogLevel.Warning, "{Count} connections were closed for their peers' faults in the last {Seconds} s: {Summary}. Each is logged at Debug; pipelineserver.closed_connections counts them by reason.", EventName = "PeerFaults")]
    public static partial void PeerFaults(ILogger logger, long count, long seconds, string summary);
}
