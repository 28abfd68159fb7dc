using System.CommandLine;
using System.Net;
using PipelineServer.LoadTest.Cli;
using PipelineServer.LoadTest.Engine;

namespace PipelineServer.LoadTest.Scenarios;

/// <summary>
/// A protocol the harness can load-test: a subcommand of the tool. A protocol pack adds its own scenario by
/// implementing this (usually through <see cref="LoadScenario{TRequest, TResponse}"/>) and registering it in
/// <see cref="ScenarioCatalog"/>.
/// </summary>
internal interface ILoadScenario
{
    /// <summary>The subcommand name, e.g. <c>echo</c>.</summary>
    string Name { get; }

    string Description { get; }

    /// <summary>The embedded servers this scenario can start; the first is the default.</summary>
    IReadOnlyList<string> ServerKinds { get; }

    /// <summary>Options of the scenario's own (beyond the common ones); their values reach <see cref="LoadOptions.Extra"/>.</summary>
    IReadOnlyList<Option<string>> ExtraOptions { get; }

    /// <summary>Starts an embedded server on loopback (in the server process).</summary>
    Task<RunningServer> StartServerAsync(string kind, LoadOptions options, CancellationToken cancellationToken);

    /// <summary>
    /// Runs the load against <paramref name="target"/> and measures it; <paramref name="sampleServer"/>, when given, is
    /// called at the start and the end of the measured window to measure the server over the same window.
    /// </summary>
    Task<LoadResult> RunAsync(EndPoint target, LoadOptions options, IProgressSink progress, Func<Task<ServerUsage>>? sampleServer, CancellationToken cancellationToken);
}

/// <summary>A started embedded server.</summary>
internal sealed record RunningServer(EndPoint EndPoint, Func<Task> StopAsync);
