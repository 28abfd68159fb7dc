using PipelineServer.LoadTest.Cli;
using PipelineServer.LoadTest.Engine;

namespace PipelineServer.LoadTest.Reporting;

/// <summary>One measured run, with what it ran against.</summary>
internal sealed record RunReport(string Server, string Target, LoadResult Result, int Round = 0);

/// <summary>Everything a command produced, for the summary, the JSON file, the log and the plot.</summary>
internal sealed record Report(LoadOptions Options, IReadOnlyList<RunReport> Runs, IReadOnlyList<double> Ratios)
{
    public bool AnyMismatch => Runs.Any(static r => r.Result.Mismatches > 0);
}
