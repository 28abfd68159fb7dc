using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace PipelineServer.LoadTest.Reliability;

/// <summary>
/// Peers that send and never read: the server's memory must stay bounded (its pipes pause), the other connections
/// must keep being served, and, with a write timeout, each slow peer must be closed.
/// </summary>
internal static class SlowReaderRun
{
    public static async Task<SlowReaderResult> RunAsync(ReliabilityOptions common, SlowReaderOptions options, Action<string> log, CancellationToken cancellationToken)
    {
        var settings = new Dictionary<string, string>(common.ServerSettings);
        if (options.WriteTimeout is { } writeTimeout && common.Server == "framework")
        {
            settings["WriteTimeout"] = writeTimeout.ToString("c", CultureInfo.InvariantCulture);
        }

        await using var server = await ReliabilityServer.StartAsync(common.Server, settings, options.FrameSize + EchoWire.HeaderLength, cancellationToken);
        server.EnsureDescriptors(options.SlowConnections + options.NormalConnections);
        var start = await server.SettleAsync(common.Settle);
        log($"{common.Server} (pid {server.ProcessId}): RSS {start.RssBytes / 1048576.0:0.0} MiB before the slow phase");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var normal = new List<EchoLoop>();
        for (var i = 0; i < options.NormalConnections; i++)
        {
            normal.Add(await EchoLoop.StartAsync(server.EndPoint, i, options.NormalPayloadSize, stop.Token));
        }

        var clock = Stopwatch.StartNew();
        var slow = new List<SlowPeer>();
        for (var i = 0; i < options.SlowConnections; i++)
        {
            slow.Add(await SlowPeer.StartAsync(server, i, options.FrameSize, clock, stop.Token));
        }

        log($"{options.SlowConnections} slow peers sending {options.FrameSize / 1024} KiB frames, {options.NormalConnections} normal connections echoing, for {options.Duration.TotalSeconds:0} s");
        var samples = new List<TimedSample>();
        using (var timer = new PeriodicTimer(options.SampleInterval))
        {
            do
            {
                samples.Add(TimedSample.From(clock.Elapsed, server.Sample()));
            }
            while (clock.Elapsed < options.Duration && await timer.WaitForNextTickAsync(cancellationToken));
        }

        // The heap as it is with every slow peer still stuck (no collection forced): where the growth is.
        var during = ServerSnapshot.From(server.Sample(), await server.GetUsageAsync());
        var window = clock.Elapsed;
        await stop.CancelAsync();
        await Task.WhenAll(normal.Select(static l => l.Completion));
        await Task.WhenAll(slow.Select(static p => p.Completion));
        foreach (var peer in slow)
        {
            peer.Dispose();
        }

        var closed = slow.Count(static p => p.ClosedAfter is not null);
        log($"{closed} of {slow.Count} slow peers closed by the server");
        await server.WaitForFdsAsync(fds => fds <= start.Fds, TimeSpan.FromSeconds(15), cancellationToken);
        var released = await server.SettleAsync(common.Settle);
        var final = released;
        if (options.Cooldown > TimeSpan.Zero)
        {
            // Buffer pools keep freed blocks for a trim interval or two (the framework's trims every 10 s, keeping what the
            // last interval's busiest moment needed): what the server gives back with time, not just at once.
            log($"slow peers gone: RSS {released.RssBytes / 1048576.0:0.0} MiB; cooling down for {options.Cooldown.TotalSeconds:0} s");
            await Task.Delay(options.Cooldown, cancellationToken);
            final = await server.SettleAsync(common.Settle);
        }

        var peak = samples.MaxBy(static s => s.RssBytes)!;
        var bound = (options.BaseGrowthMiB + (options.SlowConnections * options.MaxGrowthPerSlowMiB)) * 1048576;
        var closeTimes = slow.Where(static p => p.ClosedAfter is not null).Select(static p => p.ClosedAfter!.Value.TotalSeconds).ToList();
        return new SlowReaderResult
        {
            Server = common.Server,
            ServerSettings = settings,
            SlowConnections = options.SlowConnections,
            NormalConnections = options.NormalConnections,
            FrameBytes = options.FrameSize,
            DurationSeconds = window.TotalSeconds,
            WriteTimeoutSeconds = settings.ContainsKey("WriteTimeout") ? options.WriteTimeout?.TotalSeconds : null,
            Start = start,
            PeakRssBytes = peak.RssBytes,
            PeakAtSeconds = peak.Seconds,
            PeakFds = samples.Max(static s => s.Fds),
            PeakThreads = samples.Max(static s => s.Threads),
            AtEnd = during,
            Released = released,
            CooldownSeconds = options.Cooldown.TotalSeconds,
            Final = final,
            PeakGrowthBytes = peak.RssBytes - start.RssBytes,
            AllowedGrowthBytes = (long)bound,
            Bounded = peak.RssBytes - start.RssBytes <= bound,
            Slow = [.. slow.Select(static p => p.Outcome())],
            SlowClosed = closed,
            AllSlowClosed = closed == slow.Count,
            FirstCloseSeconds = closeTimes.Count > 0 ? closeTimes.Min() : null,
            LastCloseSeconds = closeTimes.Count > 0 ? closeTimes.Max() : null,
            NotClosedWithinSeconds = closed == slow.Count ? null : window.TotalSeconds,
            SlowBytesSent = slow.Sum(static p => p.BytesSent),
            Normal = EchoTraffic.From(normal, window),
            Samples = samples,
        };
    }

    /// <summary>One peer that sends frames back to back and never reads.</summary>
    private sealed class SlowPeer : IDisposable
    {
        private readonly Socket _socket;
        private readonly Stopwatch _clock;
        private readonly TimeSpan _started;
        private TimeSpan _lastSend;
        private TimeSpan? _closedAt;
        private string _ending = "open";

        private SlowPeer(Socket socket, Stopwatch clock)
        {
            _socket = socket;
            _clock = clock;
            _started = clock.Elapsed;
            _lastSend = _started;
            Completion = Task.CompletedTask;
        }

        public int Id { get; private init; }

        public Task Completion { get; private set; }

        public long BytesSent { get; private set; }

        /// <summary>From this peer's start until a send failed because the server had closed the connection.</summary>
        public TimeSpan? ClosedAfter => _closedAt - _started;

        public static async Task<SlowPeer> StartAsync(ReliabilityServer server, int id, int frameSize, Stopwatch clock, CancellationToken stop)
        {
            var socket = await EchoWire.ConnectAsync(server.EndPoint, stop);
            var peer = new SlowPeer(socket, clock) { Id = id };
            peer.Completion = peer.SendAsync(EchoWire.Frame(id, frameSize), stop);
            return peer;
        }

        public SlowPeerOutcome Outcome() => new()
        {
            Id = Id,
            BytesSent = BytesSent,
            ClosedAfterSeconds = ClosedAfter?.TotalSeconds,
            // The server's flush has been blocked since shortly before this peer's last send completed.
            StalledForSeconds = ((_closedAt ?? _clock.Elapsed) - _lastSend).TotalSeconds,
            Ending = _ending,
        };

        public void Dispose() => EchoWire.Reset(_socket);

        private async Task SendAsync(byte[] frame, CancellationToken stop)
        {
            try
            {
                while (true)
                {
                    await EchoWire.SendAsync(_socket, frame, stop);
                    BytesSent += frame.Length;
                    _lastSend = _clock.Elapsed;
                }
            }
            catch (SocketException ex)
            {
                // The only way a peer that never reads learns of the close: the server's RST fails its next send.
                _closedAt = _clock.Elapsed;
                _ending = ex.SocketErrorCode.ToString();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
        }
    }
}

/// <summary>A sample of the server at a moment of a run.</summary>
internal sealed record TimedSample(double Seconds, long RssBytes, int Fds, int Threads)
{
    public static TimedSample From(TimeSpan at, ProcessSample sample) => new(Math.Round(at.TotalSeconds, 3), sample.RssBytes, sample.Fds, sample.Threads);
}

internal sealed record SlowPeerOutcome
{
    public required int Id { get; init; }

    public required long BytesSent { get; init; }

    /// <summary><see langword="null"/> when the server had not closed it by the end of the slow phase.</summary>
    public double? ClosedAfterSeconds { get; init; }

    public required double StalledForSeconds { get; init; }

    /// <summary>How the peer learned of the close (<c>ConnectionReset</c>, <c>Shutdown</c>), or <c>open</c>.</summary>
    public required string Ending { get; init; }
}

/// <summary>The <c>reliability slow-reader</c> figures (JSON field names are fixed for scripts).</summary>
internal sealed record SlowReaderResult
{
    public string Kind => "slow-reader";

    public required string Server { get; init; }

    public required IReadOnlyDictionary<string, string> ServerSettings { get; init; }

    public required int SlowConnections { get; init; }

    public required int NormalConnections { get; init; }

    public required int FrameBytes { get; init; }

    public required double DurationSeconds { get; init; }

    /// <summary>The write timeout the server was given; <see langword="null"/> for none (the baseline has none).</summary>
    public double? WriteTimeoutSeconds { get; init; }

    public required ServerSnapshot Start { get; init; }

    public required long PeakRssBytes { get; init; }

    public required double PeakAtSeconds { get; init; }

    public required int PeakFds { get; init; }

    public required int PeakThreads { get; init; }

    /// <summary>At the end of the slow phase, peers still connected, nothing collected (the managed heap as it was).</summary>
    public required ServerSnapshot AtEnd { get; init; }

    /// <summary>Right after the slow phase, every slow peer gone, settled.</summary>
    public required ServerSnapshot Released { get; init; }

    public required double CooldownSeconds { get; init; }

    /// <summary>After the cooldown that followed, settled.</summary>
    public required ServerSnapshot Final { get; init; }

    public required long PeakGrowthBytes { get; init; }

    public required long AllowedGrowthBytes { get; init; }

    public required bool Bounded { get; init; }

    public required IReadOnlyList<SlowPeerOutcome> Slow { get; init; }

    public required int SlowClosed { get; init; }

    public required bool AllSlowClosed { get; init; }

    public double? FirstCloseSeconds { get; init; }

    public double? LastCloseSeconds { get; init; }

    /// <summary>Set when some slow peer was still open at the end: "not closed within" this many seconds.</summary>
    public double? NotClosedWithinSeconds { get; init; }

    public required long SlowBytesSent { get; init; }

    public required EchoTraffic Normal { get; init; }

    public required IReadOnlyList<TimedSample> Samples { get; init; }
}
