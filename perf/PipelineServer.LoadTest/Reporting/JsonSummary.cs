using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using PipelineServer.LoadTest.Engine;

namespace PipelineServer.LoadTest.Reporting;

/// <summary>
/// The JSON summary. Field names are fixed, so scripts can rely on them: scenario, target, server, connections,
/// pipeline, size, durationSeconds, requests, requestsPerSecond, bytesPerSecond, errors, mismatches, latencyMicros
/// {p50, p90, p99, p999, max}; with an embedded server serverAllocatedBytesPerRequest and gcCollections {gen0, gen1,
/// gen2}; with --compare, ratios (and every round under runs).
/// </summary>
internal static class JsonSummary
{
    private static readonly JsonSerializerOptions s_options = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    public static async Task WriteAsync(string path, Report report)
    {
        JsonNode document;
        if (report.Ratios.Count > 0)
        {
            // The top level describes the first server, its rounds combined, as for a single run; then the comparison.
            var first = report.Options.Compare[0];
            document = JsonSerializer.SerializeToNode(Summarise(report, Combine(report.Runs.Where(r => r.Server == first).ToList())), s_options)!;
            document["ratios"] = JsonSerializer.SerializeToNode(
                new Ratios(report.Options.Compare[0], report.Options.Compare[1], report.Ratios.ToArray(), Statistics.Median(report.Ratios)),
                s_options);
            document["runs"] = JsonSerializer.SerializeToNode(report.Runs.Select(run => Summarise(report, run)).ToArray(), s_options);
        }
        else
        {
            document = JsonSerializer.SerializeToNode(Summarise(report, report.Runs[0]), s_options)!;
        }

        await File.WriteAllTextAsync(path, document.ToJsonString(s_options));
    }

    // Several rounds of one server as one run: counts added, latency histograms merged.
    private static RunReport Combine(IReadOnlyList<RunReport> rounds)
    {
        var latency = new HdrHistogram.LongHistogram(rounds[0].Result.Latency.HighestTrackableValue, 3);
        ServerUsage? server = null;
        foreach (var round in rounds)
        {
            latency.Add(round.Result.Latency);
            if (round.Result.Server is { } s)
            {
                server = server is null ? s : new ServerUsage(server.CpuSeconds + s.CpuSeconds, server.AllocatedBytes + s.AllocatedBytes, server.Gen0 + s.Gen0, server.Gen1 + s.Gen1, server.Gen2 + s.Gen2);
            }
        }

        var result = new LoadResult
        {
            StartTime = rounds[0].Result.StartTime,
            Duration = TimeSpan.FromTicks(rounds.Sum(static r => r.Result.Duration.Ticks)),
            Requests = rounds.Sum(static r => r.Result.Requests),
            Errors = rounds.Sum(static r => r.Result.Errors),
            Mismatches = rounds.Sum(static r => r.Result.Mismatches),
            Bytes = rounds.Sum(static r => r.Result.Bytes),
            Latency = latency,
            Intervals = [],
            HarnessCpuSeconds = rounds.Sum(static r => r.Result.HarnessCpuSeconds),
            HarnessAllocatedBytes = rounds.Sum(static r => r.Result.HarnessAllocatedBytes),
            Server = server,
        };
        return new RunReport(rounds[0].Server, rounds[0].Target, result);
    }

    private static RunSummary Summarise(Report report, RunReport run)
    {
        var o = report.Options;
        var r = run.Result;
        return new RunSummary(
            o.Scenario,
            run.Target,
            run.Server,
            o.Connections,
            o.Pipeline,
            o.Size.ToString(),
            r.Duration.TotalSeconds,
            r.Requests,
            r.RequestsPerSecond,
            r.BytesPerSecond,
            r.Errors,
            r.Mismatches,
            new Latency(r.Micros(50), r.Micros(90), r.Micros(99), r.Micros(99.9), r.MaxMicros),
            r.Server is { } s ? s.AllocatedBytes / (double)Math.Max(1, r.Requests) : null,
            r.Server is { } g ? new GcCollections(g.Gen0, g.Gen1, g.Gen2) : null,
            SummaryTable.PerRequestMicros(r.HarnessCpuSeconds, r.Requests),
            r.HarnessAllocatedBytes / (double)Math.Max(1, r.Requests),
            r.Server is { } c ? SummaryTable.PerRequestMicros(c.CpuSeconds, r.Requests) : null,
            run.Round == 0 ? null : run.Round,
            o.Rate);
    }

    private sealed record RunSummary(
        string Scenario,
        string Target,
        string Server,
        int Connections,
        int Pipeline,
        string Size,
        double DurationSeconds,
        long Requests,
        double RequestsPerSecond,
        double BytesPerSecond,
        long Errors,
        long Mismatches,
        Latency LatencyMicros,
        double? ServerAllocatedBytesPerRequest,
        GcCollections? GcCollections,
        double HarnessCpuMicrosPerRequest,
        double HarnessAllocatedBytesPerRequest,
        double? ServerCpuMicrosPerRequest,
        int? Round,
        double? Rate);

    private sealed record Latency(double P50, double P90, double P99, double P999, double Max);

    private sealed record GcCollections(int Gen0, int Gen1, int Gen2);

    private sealed record Ratios(string Numerator, string Denominator, double[] PerRound, double Median);
}
