using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using PipelineServer.Diagnostics;

namespace PipelineServer.Middleware;

// Logs each connection's start and end (with its duration and why it ended), at Information in the
// PipelineServer.Connections category.
internal sealed class LifecycleLoggingMiddleware(ConnectionDelegate next, ILogger logger)
{
    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var started = Stopwatch.GetTimestamp();
        var remote = connection.RemoteEndPoint?.ToString();
        MiddlewareLog.ConnectionOpened(logger, connection.ConnectionId, remote, connection.LocalEndPoint?.ToString());
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            var reason = ConnectionCloseReason.Get(connection) ?? (connection.ConnectionClosed.IsCancellationRequested ? ConnectionCloseReason.Reset : ConnectionCloseReason.Clean);
            MiddlewareLog.ConnectionClosed(logger, connection.ConnectionId, remote, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds, reason);
        }
    }
}
