using System.Diagnostics;
using System.Net.Sockets;

namespace PipelineServer.LoadTest.Reliability;

/// <summary>
/// Many idle connections: how long the server takes to accept them, what each costs it in resident memory above the
/// empty server, and that every one of them is still served (one verified echo each).
/// </summary>
internal static class IdleRun
{
    private const int WarmupConnections = 32;
    private const int WarmupEchoes = 200;
    private static readonly TimeSpan s_exchangeTimeout = TimeSpan.FromSeconds(30);

    public static async Task<IdleResult> RunAsync(ReliabilityOptions common, IdleOptions options, Action<string> log, CancellationToken cancellationToken)
    {
        // Thousands of connections from one address, silent until the end: the sample's per-IP limit and first-message
        // timeout, on by default, would refuse or close them, so this run turns them off (unless given).
        var settings = new Dictionary<string, string>(common.ServerSettings);
        settings.TryAdd("MaxConnectionsPerIp", "0");
        settings.TryAdd("FirstMessageTimeout", "0");
        await using var server = await ReliabilityServer.StartAsync(common.Server, settings, 64 * 1024, cancellationToken);
        server.EnsureDescriptors(options.Connections);
        var fresh = server.Sample();

        // Every path an idle connection takes (accept, the middleware chain, the first read) is compiled, and the
        // buffer pools have seen traffic, before the empty server is measured.
        log($"warming up {common.Server} (pid {server.ProcessId})");
        await WarmUpAsync(server, cancellationToken);
        await server.WaitForFdsAsync(fds => fds <= fresh.Fds, TimeSpan.FromSeconds(10), cancellationToken);
        var empty = await server.SettleAsync(common.Settle);
        log($"empty: RSS {empty.RssBytes / 1048576.0:0.0} MiB, {empty.Fds} fds, {empty.Threads} threads");

        var sockets = new Socket?[options.Connections];
        var connecting = new ConnectState();

        // In two halves, settling in between: the second half's cost per connection is the marginal one, free of what
        // the first connections paid once (thread-pool threads injected during the accept burst, code compiled late).
        var half = options.Connections / 2;
        var (connectFirst, acceptFirst) = await ConnectAsync(server, sockets, 0, half, empty.Fds, options, connecting, cancellationToken);
        var halfway = await server.SettleAsync(common.Settle);
        log($"{half:N0} connected: RSS {halfway.RssBytes / 1048576.0:0.0} MiB, {halfway.Threads} threads");
        var (connectSecond, acceptSecond) = await ConnectAsync(server, sockets, half, options.Connections, empty.Fds, options, connecting, cancellationToken);
        var connectSeconds = connectFirst + connectSecond;
        var acceptSeconds = acceptFirst + acceptSecond;
        var connected = sockets.Count(static s => s is not null);
        var errors = connecting.Errors;
        var firstError = connecting.FirstError;
        log($"{connected:N0} connected in {connectSeconds:0.00} s, accepted by {acceptSeconds:0.00} s");
        try
        {
            var idle = await server.SettleAsync(common.Settle);
            log($"idle: RSS {idle.RssBytes / 1048576.0:0.0} MiB, {idle.Fds} fds, {idle.Threads} threads");

            long verified = 0;
            long mismatches = 0;
            var echoStart = Stopwatch.GetTimestamp();
            await Parallel.ForEachAsync(
                Enumerable.Range(0, options.Connections),
                new ParallelOptions { MaxDegreeOfParallelism = options.ConnectConcurrency * 4, CancellationToken = cancellationToken },
                async (i, token) =>
                {
                    if (sockets[i] is not { } socket)
                    {
                        return;
                    }

                    var frame = EchoWire.Frame(i, options.PayloadSize);
                    try
                    {
                        using var timeout = EchoWire.Timeout(s_exchangeTimeout, token);
                        await EchoWire.EchoAsync(socket, frame, new byte[frame.Length], timeout.Token);
                        Interlocked.Increment(ref verified);
                    }
                    catch (EchoMismatchException ex)
                    {
                        Interlocked.Increment(ref mismatches);
                        Interlocked.CompareExchange(ref firstError, ex.Message, null);
                    }
                    catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException && !token.IsCancellationRequested)
                    {
                        Interlocked.Increment(ref errors);
                        Interlocked.CompareExchange(ref firstError, $"echo: {ex.Message}", null);
                    }
                });
            var echoSeconds = Stopwatch.GetElapsedTime(echoStart).TotalSeconds;
            var afterEcho = await server.SettleAsync(common.Settle);
            log($"after one echo each: RSS {afterEcho.RssBytes / 1048576.0:0.0} MiB, {verified:N0} verified");

            var perConnection = Math.Max(1, connected);
            var rssPerConnectionKiB = (idle.RssBytes - empty.RssBytes) / 1024.0 / perConnection;
            return new IdleResult
            {
                Server = common.Server,
                ServerSettings = settings,
                Connections = options.Connections,
                Connected = connected,
                ConnectSeconds = connectSeconds,
                AcceptSeconds = acceptSeconds,
                AcceptedPerSecond = connected / Math.Max(1e-9, acceptSeconds),
                Empty = empty,
                Idle = idle,
                AfterEcho = afterEcho,
                RssPerConnectionKiB = rssPerConnectionKiB,
                Halfway = halfway,
                MarginalRssPerConnectionKiB = (idle.RssBytes - halfway.RssBytes) / 1024.0 / Math.Max(1, connected - sockets.Take(half).Count(static s => s is not null)),
                ManagedHeapPerConnectionBytes = (idle.ManagedHeapBytes - empty.ManagedHeapBytes) / (double)perConnection,
                PinnedHeapPerConnectionBytes = (idle.PinnedHeapBytes - empty.PinnedHeapBytes) / (double)perConnection,
                RssPerConnectionAfterEchoKiB = (afterEcho.RssBytes - empty.RssBytes) / 1024.0 / perConnection,
                ManagedHeapPerConnectionAfterEchoBytes = (afterEcho.ManagedHeapBytes - empty.ManagedHeapBytes) / (double)perConnection,
                Echoed = connected,
                Verified = verified,
                Errors = errors,
                Mismatches = mismatches,
                FirstError = firstError,
                EchoSeconds = echoSeconds,
                GoalKiB = options.GoalKiB,
                WithinGoal = rssPerConnectionKiB <= options.GoalKiB,
            };
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket?.Dispose();
            }
        }
    }

    // Opens sockets[from..to); returns the seconds until every connect completed and until the server had accepted them all.
    private static async Task<(double Connect, double Accept)> ConnectAsync(
        ReliabilityServer server, Socket?[] sockets, int from, int to, int emptyFds, IdleOptions options, ConnectState state, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        await Parallel.ForEachAsync(
            Enumerable.Range(from, to - from),
            new ParallelOptions { MaxDegreeOfParallelism = options.ConnectConcurrency, CancellationToken = cancellationToken },
            async (i, token) =>
            {
                try
                {
                    sockets[i] = await EchoWire.ConnectAsync(server.EndPoint, token);
                }
                catch (SocketException ex)
                {
                    state.Fail($"connect: {ex.Message}");
                }
            });
        var connect = Stopwatch.GetElapsedTime(start).TotalSeconds;

        // A connect completes when the kernel has queued the connection; the server has it once it has accepted it,
        // which is when its descriptor appears.
        var open = sockets.Take(to).Count(static s => s is not null);
        if (!await server.WaitForFdsAsync(fds => fds >= emptyFds + open, options.AcceptTimeout, cancellationToken))
        {
            state.Fail($"the server had not accepted all {open:N0} connections within {options.AcceptTimeout.TotalSeconds:0} s");
        }

        return (connect, Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    private static async Task WarmUpAsync(ReliabilityServer server, CancellationToken cancellationToken)
    {
        await Parallel.ForEachAsync(
            Enumerable.Range(0, WarmupConnections),
            new ParallelOptions { MaxDegreeOfParallelism = WarmupConnections, CancellationToken = cancellationToken },
            async (c, token) =>
            {
                using var socket = await EchoWire.ConnectAsync(server.EndPoint, token);
                var receive = new byte[EchoWire.HeaderLength + 4096];
                for (var i = 0; i < WarmupEchoes; i++)
                {
                    var frame = EchoWire.Frame(((long)c << 32) | (uint)i, 16 << (i % 9));
                    using var timeout = EchoWire.Timeout(s_exchangeTimeout, token);
                    await EchoWire.EchoAsync(socket, frame, receive, timeout.Token);
                }

                using var closing = EchoWire.Timeout(s_exchangeTimeout, token);
                await EchoWire.CloseGracefullyAsync(socket, closing.Token);
            });
    }
}

internal sealed class ConnectState
{
    private long _errors;
    private string? _firstError;

    public long Errors => Interlocked.Read(ref _errors);

    public string? FirstError => Volatile.Read(ref _firstError);

    public void Fail(string error)
    {
        Interlocked.Increment(ref _errors);
        Interlocked.CompareExchange(ref _firstError, error, null);
    }
}

/// <summary>The <c>reliability idle</c> figures (JSON field names are fixed for scripts).</summary>
internal sealed record IdleResult
{
    public string Kind => "idle";

    public required string Server { get; init; }

    public required IReadOnlyDictionary<string, string> ServerSettings { get; init; }

    public required int Connections { get; init; }

    public required int Connected { get; init; }

    /// <summary>From the first connect to the last completed, client side (the two halves' times added).</summary>
    public required double ConnectSeconds { get; init; }

    /// <summary>From the first connect until the server held a descriptor for every connection (the two halves' times added).</summary>
    public required double AcceptSeconds { get; init; }

    public required double AcceptedPerSecond { get; init; }

    public required ServerSnapshot Empty { get; init; }

    public required ServerSnapshot Idle { get; init; }

    public required ServerSnapshot AfterEcho { get; init; }

    /// <summary>(RSS idle − RSS empty) / connections, in KiB.</summary>
    public required double RssPerConnectionKiB { get; init; }

    /// <summary>With half the connections open, settled.</summary>
    public required ServerSnapshot Halfway { get; init; }

    /// <summary>(RSS idle − RSS halfway) / the second half's connections, in KiB: the cost of one more idle connection.</summary>
    public required double MarginalRssPerConnectionKiB { get; init; }

    public required double ManagedHeapPerConnectionBytes { get; init; }

    public required double PinnedHeapPerConnectionBytes { get; init; }

    /// <summary>The same once every connection has echoed once and gone idle again.</summary>
    public required double RssPerConnectionAfterEchoKiB { get; init; }

    public required double ManagedHeapPerConnectionAfterEchoBytes { get; init; }

    public required long Echoed { get; init; }

    public required long Verified { get; init; }

    public required long Errors { get; init; }

    public required long Mismatches { get; init; }

    public string? FirstError { get; init; }

    public required double EchoSeconds { get; init; }

    public required double GoalKiB { get; init; }

    public required bool WithinGoal { get; init; }
}
