using HdrHistogram;

namespace PipelineServer.LoadTest.Engine;

/// <summary>What one measured run produced. Latencies are in nanoseconds.</summary>
internal sealed class LoadResult
{
    public required DateTime StartTime { get; init; }

    public required TimeSpan Duration { get; init; }

    public required long Requests { get; init; }

    public required long Errors { get; init; }

    public required long Mismatches { get; init; }

    public required long Bytes { get; init; }

    public required HistogramBase Latency { get; init; }

    public required IReadOnlyList<HistogramBase> Intervals { get; init; }

    public required double HarnessCpuSeconds { get; init; }

    public long HarnessAllocatedBytes { get; init; }

    /// <summary>The embedded server's measurements over the same window, when the server is embedded.</summary>
    public ServerUsage? Server { get; set; }

    public string? FirstError { get; init; }

    public double RequestsPerSecond => Requests / Duration.TotalSeconds;

    public double BytesPerSecond => Bytes / Duration.TotalSeconds;

    public double Micros(double percentile) => Latency.TotalCount == 0 ? 0 : Latency.GetValueAtPercentile(percentile) / 1000.0;

    public double MaxMicros => Latency.TotalCount == 0 ? 0 : Latency.GetMaxValue() / 1000.0;
}

/// <summary>
/// An embedded server's use of the machine during a run: CPU, allocations and collections; and its managed heap when
/// asked (live bytes, the pinned object heap where transports keep their buffer blocks, memory the GC has committed).
/// </summary>
internal sealed record ServerUsage(
    double CpuSeconds,
    long AllocatedBytes,
    int Gen0,
    int Gen1,
    int Gen2,
    long ManagedHeapBytes = 0,
    long PinnedHeapBytes = 0,
    long GcCommittedBytes = 0);

/// <summary>One progress report, about once a second.</summary>
internal readonly record struct ProgressSnapshot(
    TimeSpan Elapsed,
    TimeSpan Remaining,
    bool WarmingUp,
    double RequestsPerSecond,
    double P99Micros,
    long Requests,
    long Errors,
    long Mismatches);

internal interface IProgressSink
{
    void Report(ProgressSnapshot snapshot);
}
