using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using PipelineServer.LoadTest.Cli;
using PipelineServer.LoadTest.Engine;
using PipelineServer.LoadTest.Scenarios;

namespace PipelineServer.LoadTest.Servers;

/// <summary>
/// The child side of <see cref="EmbeddedServer"/>: starts a scenario's server, prints READY with its URL, then answers
/// STATS with its CPU time, allocations and collections until EXIT (or the end of its input).
/// </summary>
internal static class ServeCommand
{
    public const string Name = "serve";
    public const string ReadyPrefix = "READY ";
    public const string StatsPrefix = "STATS ";
    public const string StatsCommand = "STATS";
    public const string ExitCommand = "EXIT";

    public static async Task<int> RunAsync(ILoadScenario scenario, LoadOptions options)
    {
        var server = await scenario.StartServerAsync(options.Server, options, CancellationToken.None);
        var endPoint = (IPEndPoint)server.EndPoint;
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{ReadyPrefix}tcp://{endPoint.Address}:{endPoint.Port}"));
        Console.Out.Flush();

        try
        {
            while (await Console.In.ReadLineAsync() is { } command)
            {
                if (command == StatsCommand)
                {
                    var process = Process.GetCurrentProcess();
                    var usage = new ServerUsage(
                        process.TotalProcessorTime.TotalSeconds,
                        GC.GetTotalAllocatedBytes(precise: true),
                        GC.CollectionCount(0),
                        GC.CollectionCount(1),
                        GC.CollectionCount(2));
                    Console.Out.WriteLine(StatsPrefix + JsonSerializer.Serialize(usage));
                    Console.Out.Flush();
                }
                else if (command == ExitCommand)
                {
                    break;
                }
            }
        }
        finally
        {
            await server.StopAsync();
        }

        return 0;
    }
}
