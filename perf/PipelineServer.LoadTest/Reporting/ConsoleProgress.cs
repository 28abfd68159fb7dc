using System.Globalization;
using PipelineServer.LoadTest.Engine;
using Spectre.Console;

namespace PipelineServer.LoadTest.Reporting;

/// <summary>
/// Progress once a second: a live status line on a terminal, plain lines when the output is redirected (logs, CI).
/// </summary>
internal sealed class ConsoleProgress(string label) : IProgressSink
{
    private static readonly bool s_interactive = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
    private bool _wroteLive;

    public void Report(ProgressSnapshot snapshot)
    {
        var phase = snapshot.WarmingUp ? "warmup " : "measure";
        var p99 = snapshot.P99Micros > 0 ? snapshot.P99Micros.ToString("N0", CultureInfo.InvariantCulture) : "-";
        var line = string.Create(
            CultureInfo.InvariantCulture,
            $"[{label}] {phase} {snapshot.Elapsed.TotalSeconds,5:0}s  {snapshot.RequestsPerSecond,12:N0} req/s  p99 {p99,9} µs  errors {snapshot.Errors:N0}  mismatches {snapshot.Mismatches:N0}  {snapshot.Remaining.TotalSeconds:0}s left");
        if (s_interactive)
        {
            // Rewrite one line in place.
            Console.Write("\r" + line.PadRight(Math.Max(line.Length, Console.WindowWidth - 1)));
            _wroteLive = true;
            if (snapshot.Remaining <= TimeSpan.Zero)
            {
                Console.WriteLine();
                _wroteLive = false;
            }
        }
        else
        {
            Console.WriteLine(line);
        }
    }

    public void Finish()
    {
        if (_wroteLive)
        {
            Console.WriteLine();
            _wroteLive = false;
        }
    }
}
