using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text.Json;
using PipelineServer.LoadTest.Cli;
using PipelineServer.LoadTest.Engine;

namespace PipelineServer.LoadTest.Servers;

/// <summary>
/// An embedded server: started by the tool on loopback, as a child process running this same program's hidden
/// <c>serve</c> command, so that the server's CPU time, allocations and collections are measured apart from the
/// harness's. It is driven over its standard input (STATS, EXIT) and dies with the tool.
/// </summary>
internal sealed class EmbeddedServer : IAsyncDisposable
{
    private readonly Process _process;

    private EmbeddedServer(Process process, string kind, EndPoint endPoint)
    {
        _process = process;
        Kind = kind;
        EndPoint = endPoint;
    }

    public string Kind { get; }

    /// <summary>The server process, for reading its resident set, descriptors and threads from <c>/proc</c>.</summary>
    public int ProcessId => _process.Id;

    public EndPoint EndPoint { get; }

    public static async Task<EmbeddedServer> StartAsync(LoadOptions options, string kind, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };

        // The harness's own runtime tuning is not the server's.
        start.Environment.Remove("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit");

        // The same program, started again: through its own executable when that is what is running, otherwise (run
        // as `dotnet PipelineServer.LoadTest.dll`, or hosted by a test runner) through the dotnet host.
        var harness = typeof(EmbeddedServer).Assembly;
        var processPath = Environment.ProcessPath!;
        var viaDotnet = string.Equals(Path.GetFileNameWithoutExtension(processPath), "dotnet", StringComparison.OrdinalIgnoreCase);
        if (Assembly.GetEntryAssembly() == harness && !viaDotnet)
        {
            start.FileName = processPath;
        }
        else
        {
            start.FileName = viaDotnet ? processPath : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
            start.ArgumentList.Add(harness.Location);
        }

        foreach (var argument in new[] { ServeCommand.Name, options.Scenario, "--server", kind, "--size", options.Size.ToString() })
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in options.Extra)
        {
            start.ArgumentList.Add("--" + name);
            start.ArgumentList.Add(value);
        }

        var process = Process.Start(start) ?? throw new LoadTestException("The embedded server process did not start.");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            while (true)
            {
                var line = await process.StandardOutput.ReadLineAsync(timeout.Token)
                    ?? throw new LoadTestException($"The embedded {kind} server exited before it was ready (exit code {(process.HasExited ? process.ExitCode : -1)}).");
                if (line.StartsWith(ServeCommand.ReadyPrefix, StringComparison.Ordinal))
                {
                    var url = new Uri(line[ServeCommand.ReadyPrefix.Length..].Trim());
                    return new EmbeddedServer(process, kind, new IPEndPoint(IPAddress.Parse(url.Host), url.Port));
                }
            }
        }
        catch (Exception ex)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.Dispose();
            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new LoadTestException($"The embedded {kind} server did not report ready within 60 s.", ex);
            }

            throw;
        }
    }

    public Task<ServerUsage> GetUsageAsync() => RequestUsageAsync(ServeCommand.StatsCommand);

    /// <summary>Has the server run a full compacting collection (decommitting what it frees), then reports its usage.</summary>
    public Task<ServerUsage> CollectAsync() => RequestUsageAsync(ServeCommand.CollectCommand);

    private async Task<ServerUsage> RequestUsageAsync(string command)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
        while (true)
        {
            var line = await _process.StandardOutput.ReadLineAsync()
                ?? throw new LoadTestException($"The embedded {Kind} server exited unexpectedly.");
            if (line.StartsWith(ServeCommand.StatsPrefix, StringComparison.Ordinal))
            {
                return JsonSerializer.Deserialize<ServerUsage>(line[ServeCommand.StatsPrefix.Length..])!;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await _process.StandardInput.WriteLineAsync(ServeCommand.ExitCommand);
                await _process.StandardInput.FlushAsync();
                _process.StandardInput.Close();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
                await _process.WaitForExitAsync(timeout.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
        {
            _process.Kill(entireProcessTree: true);
        }
        finally
        {
            _process.Dispose();
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Kind} ({EndPoint})");
}
