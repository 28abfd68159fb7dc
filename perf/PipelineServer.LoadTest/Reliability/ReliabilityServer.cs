using System.Diagnostics;
using System.Net;
using PipelineServer.LoadTest.Cli;
using PipelineServer.LoadTest.Servers;

namespace PipelineServer.LoadTest.Reliability;

/// <summary>
/// The server under a reliability run: an embedded echo server (<c>framework</c>: the echo sample; <c>baseline</c>: a
/// bare Kestrel ConnectionHandler) in its own process, watched through <c>/proc</c> and asked over its standard input
/// for collections and its managed heap.
/// </summary>
internal sealed class ReliabilityServer : IAsyncDisposable
{
    public static readonly string[] Kinds = ["framework", "baseline"];

    private static readonly TimeSpan s_pollInterval = TimeSpan.FromMilliseconds(20);

    private readonly EmbeddedServer _server;

    private ReliabilityServer(EmbeddedServer server) => _server = server;

    public string Kind => _server.Kind;

    public EndPoint EndPoint => _server.EndPoint;

    public int ProcessId => _server.ProcessId;

    /// <param name="kind">framework or baseline.</param>
    /// <param name="settings">The echo sample's configuration (<c>WriteTimeout</c> → <c>00:00:05</c>); the baseline has none and ignores it.</param>
    /// <param name="maxFrameLength">The largest frame the server must accept, length field included.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<ReliabilityServer> StartAsync(string kind, IReadOnlyDictionary<string, string> settings, int maxFrameLength, CancellationToken cancellationToken)
    {
        if (!ProcessProbe.IsSupported)
        {
            throw new LoadTestException("The reliability runs read the server's /proc entries: they run on Linux only.");
        }

        var options = new LoadOptions { Scenario = "echo", Server = kind, Size = new SizeRange(1, Math.Max(1, maxFrameLength - 4)), Extra = settings };
        return new ReliabilityServer(await EmbeddedServer.StartAsync(options, kind, cancellationToken));
    }

    public ProcessSample Sample() => ProcessProbe.Sample(ProcessId);

    public Task<Engine.ServerUsage> GetUsageAsync() => _server.GetUsageAsync();

    /// <summary>
    /// A full compacting collection, a pause for whatever the collection set off (finalizers, timers, the transport's
    /// last callbacks), and another collection; then the footprint.
    /// </summary>
    public async Task<ServerSnapshot> SettleAsync(TimeSpan pause)
    {
        await _server.CollectAsync();
        await Task.Delay(pause);
        var usage = await _server.CollectAsync();
        return ServerSnapshot.From(Sample(), usage);
    }

    /// <summary>Polls the server's descriptor count until <paramref name="condition"/> holds; false if it did not within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForFdsAsync(Func<int, bool> condition, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        while (!condition(ProcessProbe.CountFds(ProcessId)))
        {
            if (Stopwatch.GetElapsedTime(start) > timeout)
            {
                return false;
            }

            await Task.Delay(s_pollInterval, cancellationToken);
        }

        return true;
    }

    /// <summary>Fails clearly, before any connection is opened, when the harness or the server cannot hold <paramref name="connections"/> descriptors.</summary>
    public void EnsureDescriptors(int connections)
    {
        // The runtime, the listener, epoll, pipes and the host's files: a few hundred in practice.
        var needed = connections + 512L;
        var harness = ProcessProbe.OpenFileLimit(Environment.ProcessId);
        var server = ProcessProbe.OpenFileLimit(ProcessId);
        if (harness < needed || server < needed)
        {
            throw new LoadTestException(
                $"{connections:N0} connections need at least {needed:N0} open files in each process, but the limit is {harness:N0} for the harness "
                + $"and {server:N0} for the server: raise it first (ulimit -n 65536; the hard limit, ulimit -Hn, must allow it).");
        }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}

/// <summary>The server's footprint at one moment: what Linux sees and what its garbage collector holds.</summary>
internal sealed record ServerSnapshot(long RssBytes, int Fds, int Threads, long ManagedHeapBytes, long PinnedHeapBytes, long GcCommittedBytes)
{
    public static ServerSnapshot From(ProcessSample sample, Engine.ServerUsage usage) =>
        new(sample.RssBytes, sample.Fds, sample.Threads, usage.ManagedHeapBytes, usage.PinnedHeapBytes, usage.GcCommittedBytes);
}
