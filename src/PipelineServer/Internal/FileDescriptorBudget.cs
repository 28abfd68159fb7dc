using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PipelineServer.Diagnostics;

namespace PipelineServer.Internal;

// Keeps connections from using up the process's file descriptors. Every accepted socket holds one, and a process at its
// limit fails whatever else needs one: Kestrel's accept loop retries a failing accept at once (a busy loop for as long
// as the limit lasts), and the runtime can fail fatally when it cannot open a file it needs (seen here: "Out of memory."
// and an abort, in 3 runs of 3 with 500 connections under `ulimit -n 400`).
//
// Two bounds on open accepted sockets, both from the soft limit (`ulimit -n`) less the descriptors open at start,
// applied by the socket listeners (GatedListenerFactory):
// - Soft: a connection accepted over it is closed at once (counted as rejected, reason "file_descriptors"), so a storm
//   costs each extra peer a closed connection. Not applied when the app sets Kestrel's MaxConcurrentConnections, which
//   then does the same. (Done here rather than by setting MaxConcurrentConnections, which costs every connection
//   Kestrel's limit middleware: about 0.3 KB each, measured at 10,000 idle connections.)
// - Hard, a little higher: accepting waits while this many are open, so sockets being closed cannot pile up past it;
//   peers wait in the listen backlog. A reserve stays for the runtime, files and outbound connections.
// Linux only (the limits are read from /proc): elsewhere nothing is changed.
internal sealed class FileDescriptorBudget : IPostConfigureOptions<KestrelServerOptions>
{
    private readonly ILogger _logger;
    private readonly PipelineServerMetrics? _metrics;
    private long _accepted;
    private TaskCompletionSource? _room;
    private bool _softLimitApplies = true;
    private int _rejecting;

    public FileDescriptorBudget(ILoggerFactory loggerFactory, IServiceProvider services)
        : this(loggerFactory, OperatingSystem.IsLinux() ? ReadSoftLimit() : null, OperatingSystem.IsLinux() ? CountOpen() : null)
    {
        _metrics = PipelineServerMetrics.Get(services);
    }

    internal FileDescriptorBudget(ILoggerFactory loggerFactory, long? softLimit, long? open)
    {
        _logger = loggerFactory.CreateLogger(HostingLog.CategoryName);
        if (Compute(softLimit, open) is { } bounds)
        {
            (HardLimit, SoftLimit) = bounds;
            HostingLog.ConnectionsLimitedByFileDescriptors(_logger, SoftLimit, HardLimit, softLimit!.Value, open!.Value);
        }
        else
        {
            HardLimit = long.MaxValue;
            SoftLimit = long.MaxValue;
        }
    }

    // Open accepted sockets at which the listeners stop accepting.
    public long HardLimit { get; }

    // Open accepted sockets over which a new one is closed at once (unless the app set MaxConcurrentConnections).
    public long SoftLimit { get; }

    public long Accepted => Volatile.Read(ref _accepted);

    // Kestrel's own limit, when the app sets one, replaces the soft limit.
    public void PostConfigure(string? name, KestrelServerOptions options) =>
        _softLimitApplies = options.Limits.MaxConcurrentConnections is null;

    // Called for each accepted socket, already counted: true when it must be closed at once.
    internal bool Reject()
    {
        if (!_softLimitApplies || Volatile.Read(ref _accepted) <= SoftLimit)
        {
            Volatile.Write(ref _rejecting, 0);
            return false;
        }

        _metrics?.Rejected("file_descriptors");
        if (Interlocked.Exchange(ref _rejecting, 1) == 0)
        {
            // Once per storm, not once per connection.
            HostingLog.ConnectionsRejectedAtFileDescriptorLimit(_logger, SoftLimit);
        }

        return true;
    }

    internal static (long Hard, long Soft)? Compute(long? softLimit, long? open)
    {
        // No limit, or one so high that connections run into other limits first.
        if (softLimit is not { } limit || open is not { } used || limit >= 1 << 24)
        {
            return null;
        }

        var hard = Math.Max(2, limit - used - Math.Max(32, limit / 32));
        var soft = Math.Max(1, hard - Math.Clamp(hard / 8, 32, 1024));
        return (hard, soft);
    }

    // "Max open files            1024                 524288               files" in /proc/self/limits.
    internal static long? ReadSoftLimit(string path = "/proc/self/limits")
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return fields.Length > 0 && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var soft) ? soft : null;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }

    private static long? CountOpen()
    {
        try
        {
            long count = 0;
            foreach (var _ in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            {
                count++;
            }

            return count;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // Completes when an accept may go ahead; the fast path allocates nothing.
    internal ValueTask WaitForRoomAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _accepted) < HardLimit)
        {
            return default;
        }

        return WaitSlowAsync(cancellationToken);
    }

    private async ValueTask WaitSlowAsync(CancellationToken cancellationToken)
    {
        HostingLog.AcceptPausedAtFileDescriptorLimit(_logger, HardLimit);
        while (true)
        {
            TaskCompletionSource room;
            lock (this)
            {
                if (_accepted < HardLimit)
                {
                    return;
                }

                room = _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            await room.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    internal void OnAccepted() => Interlocked.Increment(ref _accepted);

    internal void OnReleased()
    {
        if (Interlocked.Decrement(ref _accepted) < HardLimit && Volatile.Read(ref _room) is not null)
        {
            TaskCompletionSource? room;
            lock (this)
            {
                room = _room;
                _room = null;
            }

            room?.TrySetResult();
        }
    }
}

// Wraps the socket transport so that its listeners wait for room under FileDescriptorBudget.HardLimit before each
// accept, and count each accepted socket until Kestrel disposes of it.
internal sealed class GatedListenerFactory(IConnectionListenerFactory inner, FileDescriptorBudget budget)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        new Listener(await inner.BindAsync(endpoint, cancellationToken).ConfigureAwait(false), budget);

    public bool CanBind(EndPoint endpoint) => inner is not IConnectionListenerFactorySelector selector || selector.CanBind(endpoint);

    private sealed class Listener(IConnectionListener inner, FileDescriptorBudget budget) : IConnectionListener
    {
        public EndPoint EndPoint => inner.EndPoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                await budget.WaitForRoomAsync(cancellationToken).ConfigureAwait(false);
                var connection = await inner.AcceptAsync(cancellationToken).ConfigureAwait(false);
                if (connection is null)
                {
                    return null;
                }

                budget.OnAccepted();
                var counted = new CountedConnection(connection, budget);
                if (!budget.Reject())
                {
                    return counted;
                }

                // Closed before Kestrel sees it: the peer gets a closed connection, the server keeps its descriptors.
                await counted.DisposeAsync().ConfigureAwait(false);
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    // The transport's connection, counted until it is disposed (which closes its socket).
    private sealed class CountedConnection(ConnectionContext inner, FileDescriptorBudget budget) : ConnectionContext
    {
        private int _disposed;

        public override string ConnectionId { get => inner.ConnectionId; set => inner.ConnectionId = value; }

        public override IFeatureCollection Features => inner.Features;

        public override IDictionary<object, object?> Items { get => inner.Items; set => inner.Items = value; }

        public override System.IO.Pipelines.IDuplexPipe Transport { get => inner.Transport; set => inner.Transport = value; }

        public override CancellationToken ConnectionClosed { get => inner.ConnectionClosed; set => inner.ConnectionClosed = value; }

        public override EndPoint? LocalEndPoint { get => inner.LocalEndPoint; set => inner.LocalEndPoint = value; }

        public override EndPoint? RemoteEndPoint { get => inner.RemoteEndPoint; set => inner.RemoteEndPoint = value; }

        public override void Abort(ConnectionAbortedException abortReason) => inner.Abort(abortReason);

        public override void Abort() => inner.Abort();

        public override async ValueTask DisposeAsync()
        {
            try
            {
                await inner.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    budget.OnReleased();
                }
            }
        }
    }
}
