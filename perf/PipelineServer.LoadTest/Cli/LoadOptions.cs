namespace PipelineServer.LoadTest.Cli;

/// <summary>Everything a load run is configured with.</summary>
internal sealed record LoadOptions
{
    public required string Scenario { get; init; }

    /// <summary>An external server (<c>tcp://host:port</c>); <see langword="null"/> for an embedded one.</summary>
    public Uri? Target { get; init; }

    /// <summary>The embedded server: framework, baseline or raw.</summary>
    public string Server { get; init; } = "framework";

    /// <summary>Embedded servers to compare, alternately; empty for a single run.</summary>
    public IReadOnlyList<string> Compare { get; init; } = [];

    public int Rounds { get; init; } = 3;

    public int Connections { get; init; } = 64;

    public int Pipeline { get; init; } = 16;

    /// <summary>
    /// Closed loop, in batches: send <see cref="Pipeline"/> requests at once and wait for all their responses before the
    /// next batch, as <c>redis-benchmark -P</c> does (by default each response is followed by the next request).
    /// </summary>
    public bool Batch { get; init; }

    /// <summary>The client connections run their continuations inline on socket threads (no thread-pool hop).</summary>
    public bool InlineScheduling { get; init; }

    public SizeRange Size { get; init; } = new(64, 64);

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(7);

    /// <summary>Run before measuring: tiered compilation with dynamic PGO takes about 3 s under load to reach its final code.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Open loop: requests per second in total; <see langword="null"/> for closed loop.</summary>
    public double? Rate { get; init; }

    public string? JsonPath { get; init; }

    public string? HlogPath { get; init; }

    public string? PlotPath { get; init; }

    /// <summary>Scenario-specific settings (name → value), for scenarios that add their own options.</summary>
    public IReadOnlyDictionary<string, string> Extra { get; init; } = new Dictionary<string, string>();
}

/// <summary>The tool's exit status, for scripts.</summary>
internal static class ExitCodes
{
    /// <summary>Every run completed requests and every response matched.</summary>
    public const int Success = 0;

    /// <summary>At least one response did not match its request.</summary>
    public const int Mismatch = 1;

    /// <summary>The load could not run: bad options, no connection, or an embedded server that did not start.</summary>
    public const int CannotRun = 2;

    /// <summary>A run completed no requests at all.</summary>
    public const int NoRequests = 3;

    /// <summary>
    /// A reliability check failed: a connection errored or was not served, a slow peer was not closed despite a write
    /// timeout, the server grew past its bound, or its descriptors did not come back.
    /// </summary>
    public const int CheckFailed = 4;
}

/// <summary>A reason the load cannot run, reported as one line without a stack trace.</summary>
internal sealed class LoadTestException(string message, Exception? inner = null) : Exception(message, inner);
