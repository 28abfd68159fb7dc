using System.Globalization;
using System.Text;
using Spectre.Console;

namespace PipelineServer.LoadTest.Reliability;

/// <summary>
/// The figures of the reliability runs as tables: printed on the console, and written as Markdown between the
/// <c>&lt;!-- reliability:begin --&gt;</c> and <c>&lt;!-- reliability:end --&gt;</c> markers of a document.
/// </summary>
internal static class ReliabilityFigures
{
    public const string BeginMarker = "<!-- reliability:begin -->";
    public const string EndMarker = "<!-- reliability:end -->";

    public static IReadOnlyList<FigureTable> Tables(ReliabilityResults results)
    {
        var tables = new List<FigureTable>();
        if (results.Idle.Count > 0)
        {
            tables.Add(new FigureTable(
                "Idle connections",
                ["server", "connections", "connect s", "accepted s", "RSS empty MiB", "RSS idle MiB", "KiB / idle conn", "marginal KiB / conn", "managed B / conn", "KiB / conn after 1 echo", "verified", "errors"],
                [.. results.Idle.Select(static r => new[]
                {
                    r.Server,
                    N(r.Connected, "N0"),
                    N(r.ConnectSeconds, "0.00"),
                    N(r.AcceptSeconds, "0.00"),
                    MiB(r.Empty.RssBytes),
                    MiB(r.Idle.RssBytes),
                    N(r.RssPerConnectionKiB, "0.00") + (r.Server == "framework" ? (r.WithinGoal ? " (≤ goal)" : $" (goal {N(r.GoalKiB, "0.#")})") : string.Empty),
                    N(r.MarginalRssPerConnectionKiB, "0.00"),
                    N(r.ManagedHeapPerConnectionBytes, "N0"),
                    N(r.RssPerConnectionAfterEchoKiB, "0.00"),
                    $"{N(r.Verified, "N0")} / {N(r.Echoed, "N0")}",
                    N(r.Errors + r.Mismatches, "N0"),
                })]));
        }

        if (results.SlowReader.Count > 0)
        {
            tables.Add(new FigureTable(
                "Slow readers",
                ["server", "write timeout", "slow / normal", "slow closed", "closed after s", "RSS start MiB", "RSS peak MiB", "RSS after MiB", "RSS final MiB", "bounded", "normal req/s", "normal p99 ms", "normal max ms", "errors"],
                [.. results.SlowReader.Select(static r => new[]
                {
                    r.Server,
                    r.WriteTimeoutSeconds is { } t ? N(t, "0.#") + " s" : "none",
                    $"{r.SlowConnections} / {r.NormalConnections}",
                    r.AllSlowClosed ? $"{r.SlowClosed} of {r.SlowConnections}" : $"{r.SlowClosed} of {r.SlowConnections} (rest not closed within {N(r.NotClosedWithinSeconds ?? r.DurationSeconds, "0")} s)",
                    r.FirstCloseSeconds is { } first ? $"{N(first, "0.00")}–{N(r.LastCloseSeconds ?? first, "0.00")}" : "-",
                    MiB(r.Start.RssBytes),
                    MiB(r.PeakRssBytes),
                    MiB(r.Released.RssBytes),
                    MiB(r.Final.RssBytes) + $" (+{N(r.CooldownSeconds, "0")} s)",
                    r.Bounded ? "yes" : "NO",
                    N(r.Normal.RequestsPerSecond, "N0"),
                    N(r.Normal.P99Micros / 1000, "0.00"),
                    N(r.Normal.MaxMicros / 1000, "0.00"),
                    N(r.Normal.Errors + r.Normal.Mismatches, "N0"),
                })]));
        }

        if (results.Churn.Count > 0)
        {
            tables.Add(new FigureTable(
                "Connection churn",
                ["server", "churned", "conn/s", "errors", "RSS start / end / peak MiB", "fds start / end / peak", "threads start / end / peak", "RSS slope, last half", "settled in s"],
                [.. results.Churn.Select(static r => new[]
                {
                    r.Server,
                    N(r.Churned, "N0"),
                    N(r.ChurnedPerSecond, "N0"),
                    N(r.Errors + r.Mismatches, "N0"),
                    $"{MiB(r.Start.RssBytes)} / {MiB(r.End.RssBytes)} / {MiB(r.Peak.RssBytes)}",
                    $"{r.Start.Fds} / {r.End.Fds} / {r.Peak.Fds}",
                    $"{r.Start.Threads} / {r.End.Threads} / {r.Peak.Threads}",
                    N(r.RssSlopeLastHalfKiBPerSecond, "0.0") + " KiB/s",
                    N(r.SettleSeconds, "0.00"),
                })]));
        }

        return tables;
    }

    public static void Print(ReliabilityResults results)
    {
        foreach (var figures in Tables(results))
        {
            var table = new Table().RoundedBorder().Title(Markup.Escape(figures.Title));
            foreach (var header in figures.Headers)
            {
                table.AddColumn(new TableColumn(Markup.Escape(header)).RightAligned());
            }

            foreach (var row in figures.Rows)
            {
                table.AddRow([.. row.Select(Markup.Escape)]);
            }

            AnsiConsole.Write(table);
        }
    }

    public static string Markdown(ReliabilityResults results, string? note)
    {
        var text = new StringBuilder();
        if (!string.IsNullOrWhiteSpace(note))
        {
            text.Append('_').Append(note.Trim()).Append("_\n\n");
        }

        foreach (var figures in Tables(results))
        {
            text.Append("**").Append(figures.Title).Append("**\n\n");
            text.Append("| ").AppendJoin(" | ", figures.Headers).Append(" |\n");
            text.Append('|').AppendJoin(string.Empty, figures.Headers.Select(static (_, i) => i == 0 ? "---|" : "---:|")).Append('\n');
            foreach (var row in figures.Rows)
            {
                text.Append("| ").AppendJoin(" | ", row.Select(static cell => cell.Replace("|", "\\|", StringComparison.Ordinal))).Append(" |\n");
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    /// <summary>
    /// Replaces what lies between the markers in <paramref name="path"/> with <paramref name="figures"/>; a file that
    /// does not exist yet is created holding just the markers and the figures. A file without both markers is left
    /// alone: the figures are never appended somewhere unexpected.
    /// </summary>
    public static void Rewrite(string path, string figures)
    {
        var block = $"{BeginMarker}\n{figures.TrimEnd('\n')}\n{EndMarker}";
        if (!File.Exists(path))
        {
            File.WriteAllText(path, block + "\n");
            return;
        }

        var text = File.ReadAllText(path);
        var begin = text.IndexOf(BeginMarker, StringComparison.Ordinal);
        var end = text.IndexOf(EndMarker, StringComparison.Ordinal);
        if (begin < 0 || end < begin)
        {
            throw new InvalidOperationException($"{path} has no '{BeginMarker}' ... '{EndMarker}' block to rewrite.");
        }

        File.WriteAllText(path, string.Concat(text.AsSpan(0, begin), block, text.AsSpan(end + EndMarker.Length)));
    }

    private static string N(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    private static string MiB(long bytes) => N(bytes / 1048576.0, "0.0");
}

internal sealed record FigureTable(string Title, IReadOnlyList<string> Headers, IReadOnlyList<string[]> Rows);
