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
/// STATS with its CPU time, allocations, collections and managed heap, and GC with the same after a full compacting
/// collection, until EXIT (or the end of its input).
/// </summary>
internal static class ServeCommand
{
    public const string Name = "serve";
    public const string ReadyPrefix = "READY ";
    public const string StatsPrefix = "STATS ";
    public const string StatsCommand = "STATS";
    public const string CollectCommand = "GC";
    public const string ExitCommand = "EXIT";

    // The pinned object heap's index in GCMemoryInfo.GenerationInfo: gen0, gen1, gen2, large, pinned.
    private const int PinnedHeapGeneration = 4;

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
                    WriteUsage();
                }
                else if (command == CollectCommand)
                {
                    // Aggressive: compacting, and free regions are decommitted too, so the process's resident set
                    // afterwards is live memory plus the runtime's fixed costs (what the idle and churn runs compare).
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                    GC.WaitForPendingFinalizers();
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                    WriteUsage();
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

    private static void WriteUsage()
    {
        var process = Process.GetCurrentProcess();
        var memory = GC.GetGCMemoryInfo(GCKind.Any);
        var generations = memory.GenerationInfo;
        var usage = new ServerUsage(
            process.TotalProcessorTime.TotalSeconds,
            GC.GetTotalAllocatedBytes(precise: true),
            GC.CollectionCount(0),
            GC.CollectionCount(1),
            GC.CollectionCount(2),
            GC.GetTotalMemory(forceFullCollection: false),
            generations.Length > PinnedHeapGeneration ? generations[PinnedHeapGeneration].SizeAfterBytes : 0,
            memory.TotalCommittedBytes);
        Console.Out.WriteLine(StatsPrefix + JsonSerializer.Serialize(usage));
        Console.Out.Flush();
    }
}
