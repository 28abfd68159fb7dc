namespace PipelineServer.LoadTest.Reliability;

/// <summary>What every reliability run takes: the server, its settings, where the JSON goes.</summary>
internal sealed record ReliabilityOptions
{
    /// <summary>framework (the echo sample) or baseline (a bare Kestrel ConnectionHandler).</summary>
    public string Server { get; init; } = "framework";

    /// <summary>The echo sample's configuration, as on its command line without the dashes (<c>IdleTimeout</c> → <c>00:01:00</c>).</summary>
    public IReadOnlyDictionary<string, string> ServerSettings { get; init; } = new Dictionary<string, string>();

    /// <summary>The pause between the two forced collections of a settle.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(1);

    public string? JsonPath { get; init; }
}

internal sealed record IdleOptions
{
    public int Connections { get; init; } = 10_000;

    /// <summary>Connects in flight at once: the listen backlog (Kestrel's 512) is never the thing measured.</summary>
    public int ConnectConcurrency { get; init; } = 256;

    public int PayloadSize { get; init; } = 32;

    /// <summary>The stated goal for the framework: resident memory per idle connection above the empty server.</summary>
    public double GoalKiB { get; init; } = 6;

    public TimeSpan AcceptTimeout { get; init; } = TimeSpan.FromMinutes(2);
}

internal sealed record SlowReaderOptions
{
    public int SlowConnections { get; init; } = 8;

    public int NormalConnections { get; init; } = 4;

    /// <summary>The payload of each frame the slow connections send (and never read back).</summary>
    public int FrameSize { get; init; } = 64 * 1024;

    public int NormalPayloadSize { get; init; } = 64;

    /// <summary>How long the slow phase lasts: a slow connection still open at the end is reported "not closed within" it.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Passed to the framework server as <c>--WriteTimeout</c>; <see langword="null"/> for none.</summary>
    public TimeSpan? WriteTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan SampleInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A wait after the slow phase before the final figure, for buffer pools to trim what the slow peers used.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromSeconds(25);

    /// <summary>
    /// The server's resident growth allowed per slow connection. Kestrel pauses a connection's input at 1 MiB and its
    /// output at 64 KiB, so a bounded server stays well under this; an unbounded one passes it within seconds.
    /// </summary>
    public double MaxGrowthPerSlowMiB { get; init; } = 4;

    /// <summary>
    /// Growth allowed whatever the number of slow peers: the normal connections' traffic alone grows the collector's
    /// gen0 budget and the buffer pool by about 10 MiB.
    /// </summary>
    public double BaseGrowthMiB { get; init; } = 16;
}

internal sealed record ChurnOptions
{
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(3);

    public int Workers { get; init; } = 8;

    public int LongLived { get; init; } = 4;

    public int MessagesPerConnection { get; init; } = 3;

    public int PayloadSize { get; init; } = 64;

    /// <summary>The share of churned connections ended with a reset (linger 0) instead of a graceful close.</summary>
    public int ResetPercent { get; init; } = 50;

    public TimeSpan SampleInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long the server is given, once churn stops, to close what was churned.</summary>
    public TimeSpan SettleTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>"Back within a few": the thread pool keeps idle threads for a while, so the end may exceed the start by this many.</summary>
    public int ThreadTolerance { get; init; } = 4;
}
