using System.Diagnostics;
using System.Net;
using HdrHistogram;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Client;
using PipelineServer.LoadTest.Cli;
using PipelineServer.LoadTest.Scenarios;

namespace PipelineServer.LoadTest.Engine;

/// <summary>
/// Runs a load: opens the connections with the client library, drives each with a <see cref="ConnectionDriver{TRequest, TResponse}"/>,
/// reports progress once a second, and collects the measurements of the window after the warmup.
/// </summary>
internal static class LoadEngine
{
    private static readonly long s_maxLatencyNanos = TimeSpan.FromMinutes(2).Ticks * 100;
    private static readonly TimeSpan s_drainTimeout = TimeSpan.FromSeconds(10);

    public static async Task<LoadResult> RunAsync<TRequest, TResponse>(
        LoadScenario<TRequest, TResponse> scenario,
        EndPoint target,
        LoadOptions options,
        IProgressSink progress,
        Func<Task<ServerUsage>>? sampleServer,
        CancellationToken cancellationToken)
    {
        var source = scenario.CreateSource(options);
        var codec = scenario.CreateReader(options);
        // Room for every request a connection may have outstanding, so that writing them never waits on the pipe.
        var requestBytes = (long)options.Pipeline * (options.Size.Max + 64);
        var factory = new ClientBuilder()
            .UseSockets(new SocketConnectionOptions
            {
                MaxWriteBufferSize = Math.Max(64 * 1024, 2 * requestBytes),
                UnsafePreferInlineScheduling = options.InlineScheduling,
            })
            .WithConnectTimeout(TimeSpan.FromSeconds(10))
            .Build();
        var maxResponseSize = Math.Max(1024 * 1024, (options.Size.Max * 2) + 64);

        var connections = new ConnectionContext[options.Connections];
        using (var connecting = new SemaphoreSlim(64))
        {
            await Task.WhenAll(Enumerable.Range(0, connections.Length).Select(async i =>
            {
                await connecting.WaitAsync(cancellationToken);
                try
                {
                    connections[i] = await factory.ConnectAsync(target, cancellationToken);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new LoadTestException($"Could not connect to {target}: {ex.Message}", ex);
                }
                finally
                {
                    connecting.Release();
                }
            }));
        }

        var recorder = new LatencyRecorder(s_maxLatencyNanos);
        var run = new RunClock(options);
        var drivers = new ConnectionDriver<TRequest, TResponse>[connections.Length];
        var running = new Task[connections.Length];
        for (var i = 0; i < drivers.Length; i++)
        {
            var driver = drivers[i] = new ConnectionDriver<TRequest, TResponse>(connections[i], i, options.Pipeline, maxResponseSize, codec, scenario.Writer, source);
            running[i] = run.IsOpenLoop
                ? Task.Run(() => driver.ReceiveOpenLoopAsync(run, recorder), CancellationToken.None)
                : Task.Run(() => driver.RunClosedLoopAsync(run, recorder, options.Batch), CancellationToken.None);
        }

        var pacing = run.IsOpenLoop ? SendOpenLoopAsync(drivers, run) : Task.CompletedTask;

        using var cancellation = cancellationToken.Register(() =>
        {
            foreach (var connection in connections)
            {
                connection.Abort(new ConnectionAbortedException("The run was cancelled."));
            }
        });

        var measured = await MonitorAsync(recorder, run, drivers, progress, sampleServer, options.HlogPath is not null, cancellationToken);

        // Requests still outstanding at the end get a while to come back; a server that never answers is reset.
        await pacing;
        var draining = Task.WhenAll(running);
        if (await Task.WhenAny(draining, Task.Delay(s_drainTimeout, CancellationToken.None)) != draining)
        {
            foreach (var connection in connections)
            {
                connection.Abort(new ConnectionAbortedException("Responses were still missing long after the end of the run."));
            }

            await draining;
        }

        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }

        // The last tick's worth of latencies, recorded after the monitor's final read.
        var rest = recorder.Drain();
        if (rest.TotalCount > 0)
        {
            measured.Total.Add(rest);
            if (options.HlogPath is not null)
            {
                measured.Intervals.Add(rest);
            }
        }

        long requests = 0, errors = 0, mismatches = 0, bytes = 0;
        string? firstError = null;
        foreach (var driver in drivers)
        {
            requests += driver.Counters.Requests;
            errors += driver.Counters.Errors;
            mismatches += driver.Counters.Mismatches;
            bytes += driver.Counters.Bytes;
            firstError ??= driver.Counters.FirstError;
        }

        return new LoadResult
        {
            StartTime = measured.StartTime,
            Duration = options.Duration,
            Requests = requests,
            Errors = errors,
            Mismatches = mismatches,
            Bytes = bytes,
            Latency = measured.Total,
            Intervals = measured.Intervals,
            HarnessCpuSeconds = measured.CpuSeconds,
            HarnessAllocatedBytes = measured.AllocatedBytes,
            FirstError = firstError,
            Server = measured.Server,
        };
    }

    private static async Task SendOpenLoopAsync<TRequest, TResponse>(ConnectionDriver<TRequest, TResponse>[] drivers, RunClock run)
    {
        try
        {
            await OpenLoopPacer.RunAsync(drivers, run);
        }
        finally
        {
            foreach (var driver in drivers)
            {
                await driver.FinishSendingAsync();
            }
        }
    }

    // Once a second: progress, and the interval histogram (kept for the summary and the HdrHistogram log). Also samples
    // the harness's CPU time and allocations, and the server's, at the start and end of the measured window.
    private static async Task<Measured> MonitorAsync<TRequest, TResponse>(
        LatencyRecorder recorder,
        RunClock run,
        ConnectionDriver<TRequest, TResponse>[] drivers,
        IProgressSink progress,
        Func<Task<ServerUsage>>? sampleServer,
        bool keepIntervals,
        CancellationToken cancellationToken)
    {
        // Histograms this size live on the large-object heap: the scratch interval is reused unless the intervals are
        // kept for an HdrHistogram log.
        var total = new LongHistogram(s_maxLatencyNanos, 3);
        var scratch = new LongHistogram(s_maxLatencyNanos, 3);
        var intervals = new List<HistogramBase>();
        var process = Process.GetCurrentProcess();
        var cpuAtStart = TimeSpan.Zero;
        var allocatedAtStart = 0L;
        ServerUsage? serverAtStart = null;
        var startTime = DateTime.UtcNow;
        var measuring = false;
        var lastCompleted = 0L;
        var lastRate = 0.0;
        var lastTime = Stopwatch.GetTimestamp();
        while (true)
        {
            var now = Stopwatch.GetTimestamp();
            var next = Math.Min(run.End, now + Stopwatch.Frequency);
            if (!measuring && run.MeasureStart < next)
            {
                next = run.MeasureStart;
            }

            var delay = Stopwatch.GetElapsedTime(now, next);
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, cancellationToken);
            }

            now = Stopwatch.GetTimestamp();
            if (!measuring && now >= run.MeasureStart)
            {
                measuring = true;
                process.Refresh();
                cpuAtStart = process.TotalProcessorTime;
                allocatedAtStart = GC.GetTotalAllocatedBytes(precise: false);
                startTime = DateTime.UtcNow;
                if (sampleServer is not null)
                {
                    serverAtStart = await sampleServer();
                }
            }

            var interval = keepIntervals ? new LongHistogram(s_maxLatencyNanos, 3) : scratch;
            interval.Reset();
            recorder.Tick(interval);
            if (interval.TotalCount > 0)
            {
                total.Add(interval);
                if (keepIntervals)
                {
                    intervals.Add(interval);
                }
            }

            long requests = 0, completed = 0, errors = 0, mismatches = 0;
            foreach (var driver in drivers)
            {
                requests += driver.Counters.Requests;
                completed += driver.Counters.Completed;
                errors += driver.Counters.Errors;
                mismatches += driver.Counters.Mismatches;
            }

            // A sliver of an interval (the last one, cut short by the end of the run) keeps the previous rate.
            var seconds = Stopwatch.GetElapsedTime(lastTime, now).TotalSeconds;
            var rate = seconds >= 0.2 ? (completed - lastCompleted) / seconds : lastRate;
            progress.Report(new ProgressSnapshot(
                Stopwatch.GetElapsedTime(run.Start, now),
                now >= run.End ? TimeSpan.Zero : Stopwatch.GetElapsedTime(now, run.End),
                lastTime < run.MeasureStart,
                rate,
                total.TotalCount == 0 ? 0 : total.GetValueAtPercentile(99) / 1000.0,
                requests,
                errors,
                mismatches));
            lastCompleted = completed;
            lastRate = rate;
            lastTime = now;

            if (now >= run.End)
            {
                process.Refresh();
                var cpu = (process.TotalProcessorTime - cpuAtStart).TotalSeconds;
                var allocated = GC.GetTotalAllocatedBytes(precise: false) - allocatedAtStart;
                ServerUsage? server = null;
                if (sampleServer is not null && serverAtStart is not null)
                {
                    var atEnd = await sampleServer();
                    server = new ServerUsage(
                        atEnd.CpuSeconds - serverAtStart.CpuSeconds,
                        atEnd.AllocatedBytes - serverAtStart.AllocatedBytes,
                        atEnd.Gen0 - serverAtStart.Gen0,
                        atEnd.Gen1 - serverAtStart.Gen1,
                        atEnd.Gen2 - serverAtStart.Gen2);
                }

                return new Measured(total, intervals, cpu, allocated, startTime, server);
            }
        }
    }

    private sealed record Measured(HistogramBase Total, List<HistogramBase> Intervals, double CpuSeconds, long AllocatedBytes, DateTime StartTime, ServerUsage? Server);
}
