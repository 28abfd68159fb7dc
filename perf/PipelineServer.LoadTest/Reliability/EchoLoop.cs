using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HdrHistogram;

namespace PipelineServer.LoadTest.Reliability;

/// <summary>
/// One connection that echoes continuously, one request at a time, verifying each echo and recording its latency:
/// the "normal" traffic that must keep being served beside slow peers and churn.
/// </summary>
internal sealed class EchoLoop
{
    private const int DistinctFrames = 16;

    // An echo that takes longer than this means the server stopped serving the connection: an error.
    private static readonly TimeSpan s_exchangeTimeout = TimeSpan.FromSeconds(10);

    private readonly LongHistogram _latency = new(TimeSpan.FromMinutes(1).Ticks * 100, 3);
    private long _requests;

    private EchoLoop() => Completion = Task.CompletedTask;

    public Task Completion { get; private set; }

    public long Requests => Volatile.Read(ref _requests);

    public long Errors { get; private set; }

    public long Mismatches { get; private set; }

    public string? FirstError { get; private set; }

    /// <summary>Latency in nanoseconds; read once <see cref="Completion"/> has completed.</summary>
    public HistogramBase Latency => _latency;

    public static async Task<EchoLoop> StartAsync(EndPoint endPoint, int id, int payloadLength, CancellationToken stop)
    {
        var socket = await EchoWire.ConnectAsync(endPoint, stop);
        var loop = new EchoLoop();
        loop.Completion = loop.RunAsync(socket, id, payloadLength, stop);
        return loop;
    }

    private async Task RunAsync(Socket socket, int id, int payloadLength, CancellationToken stop)
    {
        var frames = new byte[DistinctFrames][];
        for (var i = 0; i < frames.Length; i++)
        {
            frames[i] = EchoWire.Frame(((long)id << 32) | (uint)i, payloadLength);
        }

        var receive = new byte[frames[0].Length];
        using (socket)
        {
            // Stops between exchanges: an exchange is never cut short, so a stop is never mistaken for a failure.
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    using var timeout = new CancellationTokenSource(s_exchangeTimeout);
                    await EchoWire.EchoAsync(socket, frames[n % DistinctFrames], receive, timeout.Token);
                }
                catch (EchoMismatchException ex)
                {
                    Mismatches++;
                    FirstError ??= ex.Message;
                    return;
                }
                catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
                {
                    Errors++;
                    FirstError ??= ex is OperationCanceledException ? $"no echo within {s_exchangeTimeout.TotalSeconds:0} s" : ex.Message;
                    return;
                }

                _latency.RecordValue((long)Stopwatch.GetElapsedTime(start).TotalNanoseconds);
                Interlocked.Increment(ref _requests);
            }
        }
    }
}

/// <summary>What a set of <see cref="EchoLoop"/>s did over a window.</summary>
internal sealed record EchoTraffic
{
    public required int Connections { get; init; }

    public required long Requests { get; init; }

    public required double RequestsPerSecond { get; init; }

    public required double P50Micros { get; init; }

    public required double P99Micros { get; init; }

    public required double MaxMicros { get; init; }

    public required long Errors { get; init; }

    public required long Mismatches { get; init; }

    public string? FirstError { get; init; }

    public static EchoTraffic From(IReadOnlyList<EchoLoop> loops, TimeSpan window)
    {
        var latency = new LongHistogram(TimeSpan.FromMinutes(1).Ticks * 100, 3);
        foreach (var loop in loops)
        {
            latency.Add(loop.Latency);
        }

        double Micros(double percentile) => latency.TotalCount == 0 ? 0 : latency.GetValueAtPercentile(percentile) / 1000.0;
        var requests = loops.Sum(static l => l.Requests);
        return new EchoTraffic
        {
            Connections = loops.Count,
            Requests = requests,
            RequestsPerSecond = requests / Math.Max(1e-9, window.TotalSeconds),
            P50Micros = Micros(50),
            P99Micros = Micros(99),
            MaxMicros = latency.TotalCount == 0 ? 0 : latency.GetMaxValue() / 1000.0,
            Errors = loops.Sum(static l => l.Errors),
            Mismatches = loops.Sum(static l => l.Mismatches),
            FirstError = loops.Select(static l => l.FirstError).FirstOrDefault(static e => e is not null),
        };
    }
}
