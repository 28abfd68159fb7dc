using Microsoft.Extensions.Logging;

namespace PipelineServer.Internal;

// Event ids are stable: never renumber them. Next free id: 6.
internal static partial class HostingLog
{
    public const string CategoryName = "PipelineServer.Hosting";

    [LoggerMessage(1, LogLevel.Information, "PipelineServer listening on {Url}", EventName = "ListeningOn")]
    public static partial void ListeningOn(ILogger logger, string url);

    [LoggerMessage(2, LogLevel.Warning, "No PipelineServer endpoints are configured; the server was not started.", EventName = "NoEndpoints")]
    public static partial void NoEndpoints(ILogger logger);

    [LoggerMessage(3, LogLevel.Information, "File-descriptor limit {SoftLimit} (`ulimit -n`), {Open} open at start: connections over {MaxConnections} are closed at once unless Kestrel's MaxConcurrentConnections is set, and accepting pauses at {MaxAccepted} open connections. Raise the limit for more.", EventName = "ConnectionsLimitedByFileDescriptors")]
    public static partial void ConnectionsLimitedByFileDescriptors(ILogger logger, long maxConnections, long maxAccepted, long softLimit, long open);

    [LoggerMessage(4, LogLevel.Warning, "Accepting paused: {MaxAccepted} accepted sockets are open, the most the file-descriptor limit allows. Connections wait in the listen backlog until some close.", EventName = "AcceptPausedAtFileDescriptorLimit")]
    public static partial void AcceptPausedAtFileDescriptorLimit(ILogger logger, long maxAccepted);

    [LoggerMessage(5, LogLevel.Warning, "Closing new connections: {MaxConnections} are open, the most the file-descriptor limit allows. (Logged once each time the limit is reached.)", EventName = "ConnectionsRejectedAtFileDescriptorLimit")]
    public static partial void ConnectionsRejectedAtFileDescriptorLimit(ILogger logger, long maxConnections);
}
