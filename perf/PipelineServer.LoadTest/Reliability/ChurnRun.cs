using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace PipelineServer.LoadTest.Reliability;

/// <summary>
/// Connections opened, used and closed as fast as a few workers can (half of them reset), beside long-lived ones:
/// afterwards the server must hold the descriptors, threads and memory it held before.
/// </summary>
internal static class ChurnRun
{
    public static async Task<ChurnResult> RunAsync(ReliabilityOptions common, ChurnOptions options, Action<string> log, CancellationToken cancellationToken)
    {
        await using var server = await ReliabilityServer.StartAsync(common.Server, common.ServerSettings, 64 * 1024, cancellationToken);
        server.EnsureDescriptors(options.Workers + options.LongLived);
        var fresh = server.Sample();

        using var stopLongLived = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var longLived = new List<EchoLoop>();
        for (var i = 0; i < options.LongLived; i++)
        {
            longLived.Add(await EchoLoop.StartAsync(server.EndPoint, i, options.PayloadSize, stopLongLived.Token));
        }

        log($"{common.Server} (pid {server.ProcessId}): warming up for {options.Warmup.TotalSeconds:0} s");
        var warmup = await ChurnWorkers.RunAsync(server.EndPoint, options, options.Warmup, cancellationToken);
        await server.WaitForFdsAsync(fds => fds <= fresh.Fds + options.LongLived, options.SettleTimeout, cancellationToken);
        var start = await server.SettleAsync(common.Settle);
        log($"start: RSS {start.RssBytes / 1048576.0:0.0} MiB, {start.Fds} fds, {start.Threads} threads; churning for {options.Duration.TotalSeconds:0} s");

        var clock = Stopwatch.StartNew();
        var samples = new List<TimedSample> { TimedSample.From(TimeSpan.Zero, new ProcessSample(start.RssBytes, start.Fds, start.Threads)) };
        var longLivedAtStart = longLived.Sum(static l => l.Requests);
        var churning = ChurnWorkers.RunAsync(server.EndPoint, options, options.Duration, cancellationToken);
        using (var timer = new PeriodicTimer(options.SampleInterval))
        {
            while (!churning.IsCompleted && await timer.WaitForNextTickAsync(cancellationToken))
            {
                samples.Add(TimedSample.From(clock.Elapsed, server.Sample()));
            }
        }

        var churn = await churning;
        var churnWindow = clock.Elapsed;
        var longLivedRequests = longLived.Sum(static l => l.Requests) - longLivedAtStart;

        // The server closes what was churned on its own schedule: wait (bounded) for its descriptors to come back.
        var settleClock = Stopwatch.StartNew();
        var fdsReturned = await server.WaitForFdsAsync(fds => fds <= start.Fds, options.SettleTimeout, cancellationToken);
        var settleSeconds = settleClock.Elapsed.TotalSeconds;
        var end = await server.SettleAsync(common.Settle);
        samples.Add(TimedSample.From(clock.Elapsed, new ProcessSample(end.RssBytes, end.Fds, end.Threads)));
        log($"end: RSS {end.RssBytes / 1048576.0:0.0} MiB, {end.Fds} fds, {end.Threads} threads after {churn.Churned:N0} connections");

        await stopLongLived.CancelAsync();
        await Task.WhenAll(longLived.Select(static l => l.Completion));
        var traffic = EchoTraffic.From(longLived, churnWindow) with { Requests = longLivedRequests, RequestsPerSecond = longLivedRequests / churnWindow.TotalSeconds };

        var lastHalf = samples.Where(s => s.Seconds >= churnWindow.TotalSeconds / 2 && s.Seconds <= churnWindow.TotalSeconds).ToList();
        var rssSlope = Slope(lastHalf, static s => s.RssBytes) / 1024;
        return new ChurnResult
        {
            Server = common.Server,
            ServerSettings = common.ServerSettings,
            DurationSeconds = churnWindow.TotalSeconds,
            Workers = options.Workers,
            LongLived = options.LongLived,
            MessagesPerConnection = options.MessagesPerConnection,
            ResetPercent = options.ResetPercent,
            Churned = churn.Churned,
            GracefulCloses = churn.Graceful,
            Resets = churn.Resets,
            ChurnedPerSecond = churn.Churned / churnWindow.TotalSeconds,
            ChurnEchoes = churn.Echoes,
            WarmupChurned = warmup.Churned,
            Errors = warmup.Errors + churn.Errors + traffic.Errors,
            Mismatches = warmup.Mismatches + churn.Mismatches + traffic.Mismatches,
            FirstError = warmup.FirstError ?? churn.FirstError ?? traffic.FirstError,
            LongLivedTraffic = traffic,
            Start = start,
            End = end,
            Peak = new ProcessPeak(samples.Max(static s => s.RssBytes), samples.Max(static s => s.Fds), samples.Max(static s => s.Threads)),
            RssDeltaBytes = end.RssBytes - start.RssBytes,
            FdDelta = end.Fds - start.Fds,
            ThreadDelta = end.Threads - start.Threads,
            ManagedHeapDeltaBytes = end.ManagedHeapBytes - start.ManagedHeapBytes,
            RssSlopeLastHalfKiBPerSecond = rssSlope,
            FdSlopeLastHalfPerSecond = Slope(lastHalf, static s => s.Fds),
            SettleSeconds = settleSeconds,
            FdsReturned = fdsReturned && end.Fds <= start.Fds,
            ThreadsReturned = end.Threads - start.Threads <= options.ThreadTolerance,
            Samples = samples,
        };
    }

    // Least squares: units of value per second.
    private static double Slope(IReadOnlyList<TimedSample> samples, Func<TimedSample, double> value)
    {
        if (samples.Count < 2)
        {
            return 0;
        }

        var meanT = samples.Average(static s => s.Seconds);
        var meanV = samples.Average(value);
        double covariance = 0, variance = 0;
        foreach (var s in samples)
        {
            covariance += (s.Seconds - meanT) * (value(s) - meanV);
            variance += (s.Seconds - meanT) * (s.Seconds - meanT);
        }

        return variance == 0 ? 0 : covariance / variance;
    }

    /// <summary>The churning workers: connect, echo a few verified messages, close (gracefully or with a reset), repeat.</summary>
    private sealed class ChurnWorkers
    {
        private static readonly TimeSpan s_exchangeTimeout = TimeSpan.FromSeconds(10);

        private long _churned;
        private long _graceful;
        private long _resets;
        private long _echoes;
        private long _errors;
        private long _mismatches;
        private string? _firstError;

        public long Churned => _churned;

        public long Graceful => _graceful;

        public long Resets => _resets;

        public long Echoes => _echoes;

        public long Errors => _errors;

        public long Mismatches => _mismatches;

        public string? FirstError => _firstError;

        public static async Task<ChurnWorkers> RunAsync(EndPoint endPoint, ChurnOptions options, TimeSpan duration, CancellationToken cancellationToken)
        {
            var workers = new ChurnWorkers();
            var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            await Task.WhenAll(Enumerable.Range(0, options.Workers).Select(w => Task.Run(() => workers.WorkAsync(endPoint, options, w, deadline, cancellationToken), cancellationToken)));
            return workers;
        }

        private async Task WorkAsync(EndPoint endPoint, ChurnOptions options, int worker, long deadline, CancellationToken cancellationToken)
        {
            var random = new Random(worker);
            var receive = new byte[EchoWire.HeaderLength + options.PayloadSize];
            for (long n = 0; Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested; n++)
            {
                Socket? socket = null;
                var stage = "connect";
                try
                {
                    using var timeout = EchoWire.Timeout(s_exchangeTimeout, cancellationToken);
                    socket = await EchoWire.ConnectAsync(endPoint, timeout.Token);
                    stage = "echo";
                    for (var m = 0; m < options.MessagesPerConnection; m++)
                    {
                        var frame = EchoWire.Frame(((long)worker << 48) | (n << 8) | (uint)m, options.PayloadSize);
                        await EchoWire.EchoAsync(socket, frame, receive, timeout.Token);
                        Interlocked.Increment(ref _echoes);
                    }

                    stage = "close";
                    if (random.Next(100) < options.ResetPercent)
                    {
                        EchoWire.Reset(socket);
                        Interlocked.Increment(ref _resets);
                    }
                    else
                    {
                        await EchoWire.CloseGracefullyAsync(socket, timeout.Token);
                        Interlocked.Increment(ref _graceful);
                    }

                    Interlocked.Increment(ref _churned);
                }
                catch (EchoMismatchException ex)
                {
                    Interlocked.Increment(ref _mismatches);
                    Interlocked.CompareExchange(ref _firstError, ex.Message, null);
                }
                catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    Interlocked.Increment(ref _errors);
                    Interlocked.CompareExchange(ref _firstError, $"{stage}: {(ex is OperationCanceledException ? $"no answer within {s_exchangeTimeout.TotalSeconds:0} s" : ex.Message)}", null);
                }
                finally
                {
                    socket?.Dispose();
                }
            }
        }
    }
}

internal sealed record ProcessPeak(long RssBytes, int Fds, int Threads);

/// <summary>The <c>reliability churn</c> figures (JSON field names are fixed for scripts).</summary>
internal sealed record ChurnResult
{
    public string Kind => "churn";

    public required string Server { get; init; }

    public required IReadOnlyDictionary<string, string> ServerSettings { get; init; }

    public required double DurationSeconds { get; init; }

    public required int Workers { get; init; }

    public required int LongLived { get; init; }

    public required int MessagesPerConnection { get; init; }

    public required int ResetPercent { get; init; }

    public required long Churned { get; init; }

    public required long GracefulCloses { get; init; }

    public required long Resets { get; init; }

    public required double ChurnedPerSecond { get; init; }

    public required long ChurnEchoes { get; init; }

    public required long WarmupChurned { get; init; }

    /// <summary>Failed connects, echoes and closes, warmup included, and long-lived connections that failed.</summary>
    public required long Errors { get; init; }

    public required long Mismatches { get; init; }

    public string? FirstError { get; init; }

    public required EchoTraffic LongLivedTraffic { get; init; }

    /// <summary>After warmup, with the long-lived connections open, settled.</summary>
    public required ServerSnapshot Start { get; init; }

    /// <summary>After churn stopped and the server closed what was churned, settled; long-lived connections still open.</summary>
    public required ServerSnapshot End { get; init; }

    public required ProcessPeak Peak { get; init; }

    public required long RssDeltaBytes { get; init; }

    public required int FdDelta { get; init; }

    public required int ThreadDelta { get; init; }

    public required long ManagedHeapDeltaBytes { get; init; }

    public required double RssSlopeLastHalfKiBPerSecond { get; init; }

    public required double FdSlopeLastHalfPerSecond { get; init; }

    public required double SettleSeconds { get; init; }

    public required bool FdsReturned { get; init; }

    public required bool ThreadsReturned { get; init; }

    public required IReadOnlyList<TimedSample> Samples { get; init; }
}
