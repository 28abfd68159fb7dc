using System.Globalization;
using Spectre.Console;

namespace PipelineServer.LoadTest.Reporting;

/// <summary>
/// The end-of-run summary: one table of throughput and latency, one of what each request cost the harness and the
/// server, and for <c>--compare</c> the per-round and median ratios.
/// </summary>
internal static class SummaryTable
{
    public static void Write(Report report)
    {
        var options = report.Options;
        AnsiConsole.WriteLine();
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(
            CultureInfo.InvariantCulture,
            $"{options.Scenario}: {options.Connections} connections x pipeline {options.Pipeline}, payload {options.Size} B, {options.Duration.TotalSeconds:0.#} s measured after {options.Warmup.TotalSeconds:0.#} s warmup, {(options.Rate is { } rate ? $"open loop at {rate:N0} req/s" : "closed loop")}")));

        var throughput = NewTable("run", "server", "req/s", "MB/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "errors", "mismatches");
        var cost = NewTable("run", "server", "harness CPU µs/req", "server CPU µs/req", "harness/server", "server B/req", "GC 0/1/2");
        foreach (var run in report.Runs)
        {
            var r = run.Result;
            var round = run.Round == 0 ? "-" : run.Round.ToString(CultureInfo.InvariantCulture);
            var server = Markup.Escape(run.Server);
            throughput.AddRow(
                round,
                server,
                N(r.RequestsPerSecond, "N0"),
                N(r.BytesPerSecond / 1e6, "N1"),
                N(r.Micros(50), "N0"),
                N(r.Micros(90), "N0"),
                N(r.Micros(99), "N0"),
                N(r.Micros(99.9), "N0"),
                N(r.MaxMicros, "N0"),
                r.Errors == 0 ? "0" : $"[yellow]{r.Errors:N0}[/]",
                r.Mismatches == 0 ? "0" : $"[red]{r.Mismatches:N0}[/]");

            var harnessCpu = PerRequestMicros(r.HarnessCpuSeconds, r.Requests);
            var serverCpu = r.Server is { } s ? PerRequestMicros(s.CpuSeconds, r.Requests) : double.NaN;
            cost.AddRow(
                round,
                server,
                N(harnessCpu, "N2"),
                double.IsNaN(serverCpu) ? "-" : N(serverCpu, "N2"),
                double.IsNaN(serverCpu) || serverCpu == 0 ? "-" : N(harnessCpu / serverCpu, "N2"),
                r.Server is { } a ? N(a.AllocatedBytes / (double)Math.Max(1, r.Requests), "N2") : "-",
                r.Server is { } g ? string.Create(CultureInfo.InvariantCulture, $"{g.Gen0}/{g.Gen1}/{g.Gen2}") : "-");
        }

        AnsiConsole.Write(throughput);
        AnsiConsole.Write(cost);

        if (report.Ratios.Count > 0)
        {
            var names = report.Options.Compare;
            AnsiConsole.MarkupLine(Markup.Escape(string.Create(
                CultureInfo.InvariantCulture,
                $"throughput ratio {names[0]} / {names[1]} per round: {string.Join("  ", report.Ratios.Select(static r => r.ToString("0.000", CultureInfo.InvariantCulture)))}   median {Statistics.Median(report.Ratios):0.000}")));
        }

        foreach (var run in report.Runs)
        {
            if (run.Result.FirstError is { } error)
            {
                AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(run.Server)}: first error: {Markup.Escape(error)}[/]");
            }
        }
    }

    public static double PerRequestMicros(double seconds, long requests) => requests == 0 ? 0 : seconds * 1e6 / requests;

    private static Table NewTable(params string[] columns)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var column in columns)
        {
            table.AddColumn(new TableColumn(column).RightAligned().NoWrap());
        }

        return table;
    }

    private static string N(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}

internal static class Statistics
{
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            return 0;
        }

        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
