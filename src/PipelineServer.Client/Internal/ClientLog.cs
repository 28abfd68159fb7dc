using Microsoft.Extensions.Logging;

namespace PipelineServer.Client.Internal;

// Event ids are stable: never renumber them. Next free id: 4.
internal static partial class ClientLog
{
    [LoggerMessage(1, LogLevel.Warning, "Connection {Slot} to the server was lost ({Reason}); reconnecting.", EventName = "ConnectionLost")]
    public static partial void ConnectionLost(ILogger logger, int slot, string reason);

    [LoggerMessage(2, LogLevel.Debug, "Reconnect attempt {Attempt} for connection {Slot} failed: {Reason}", EventName = "ReconnectFailed")]
    public static partial void ReconnectFailed(ILogger logger, int attempt, int slot, string reason);

    [LoggerMessage(3, LogLevel.Information, "Connection {Slot} to the server is back after {Attempts} attempt(s).", EventName = "Reconnected")]
    public static partial void Reconnected(ILogger logger, int slot, int attempts);
}
