using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using System.Threading.Channels;

namespace PipelineServer.Tests.Infrastructure;

/// <summary>
/// A sample server run as its own process (<c>dotnet Sample.dll --Url tcp://127.0.0.1:0 ...</c>), for what only a
/// process shows: signals, resource limits, a crash. Its console log is captured line by line.
/// </summary>
public sealed partial class SampleProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _log = [];

    private SampleProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += OnLine;
        _process.ErrorDataReceived += OnLine;
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public IPEndPoint EndPoint { get; private set; } = null!;

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything logged so far.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return string.Join('\n', _log);
            }
        }
    }

    /// <summary>Starts <paramref name="assembly"/>'s sample and waits until it listens.</summary>
    /// <param name="assembly">The sample's entry assembly, referenced by the test project.</param>
    /// <param name="openFileLimit">When set, the process runs under <c>ulimit -n</c> of this.</param>
    /// <param name="arguments">More command-line settings.</param>
    public static async Task<SampleProcess> StartAsync(System.Reflection.Assembly assembly, int? openFileLimit = null, params string[] arguments)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (openFileLimit is { } limit)
        {
            start.FileName = "bash";
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add($"ulimit -n {limit} && exec \"$0\" \"$@\"");
        }
        else
        {
            start.FileName = dotnet;
        }

        if (openFileLimit is not null)
        {
            start.ArgumentList.Add(dotnet);
        }

        foreach (var argument in (string[])[assembly.Location, "--Url", "tcp://127.0.0.1:0", .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        var sample = new SampleProcess(Process.Start(start)!);
        try
        {
            var listening = await sample.WaitForLineAsync(static line => ListeningOn().IsMatch(line));
            var match = ListeningOn().Match(listening);
            sample.EndPoint = new IPEndPoint(IPAddress.Parse(match.Groups[1].Value), int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
            return sample;
        }
        catch
        {
            await sample.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits for a log line (one already logged counts) and returns it.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match)
    {
        lock (_log)
        {
            foreach (var line in _log)
            {
                if (match(line))
                {
                    return line;
                }
            }
        }

        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        try
        {
            await foreach (var line in _lines.Reader.ReadAllAsync(timeout.Token))
            {
                if (match(line))
                {
                    return line;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        throw new TimeoutException($"The sample did not log the expected line. Its log:\n{Log}");
    }

    /// <summary>Sends SIGTERM, as a service manager or `docker stop` does.</summary>
    public void Terminate()
    {
        if (kill(_process.Id, 15) != 0)
        {
            throw new InvalidOperationException($"kill failed: {Marshal.GetLastPInvokeError()}");
        }
    }

    public async Task<int> WaitForExitAsync()
    {
        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void OnLine(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is { } line)
        {
            lock (_log)
            {
                _log.Add(line);
            }

            _lines.Writer.TryWrite(line);
        }
    }

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code enabled in the test project for one call.
    private static extern int kill(int pid, int signal);
#pragma warning restore SYSLIB1054

    [GeneratedRegex(@"listening on tcp://([0-9.]+):(\d+)")]
    private static partial Regex ListeningOn();
}
