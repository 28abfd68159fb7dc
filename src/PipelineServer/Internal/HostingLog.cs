using Microsoft.Extensions.Logging;

namespace PipelineServer.Internal;

// Event ids are stable: never renumber them. Next free id: 3.
internal static partial class HostingLog
{
    public const string CategoryName = "PipelineServer.Hosting";

    [LoggerMessage(1, LogLevel.Information, "PipelineServer listening on {Url}", EventName = "ListeningOn")]
    public static partial void ListeningOn(ILogger logger, string url);

    [LoggerMessage(2, LogLevel.Warning, "No PipelineServer endpoints are configured; the server was not started.", EventName = "NoEndpoints")]
    public static partial void NoEndpoints(ILogger logger);
}
