using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace PipelineServer.Internal;

// Keeps connections from using up the process's file descriptors. Every accepted socket holds one, and a process at its
// limit fails whatever else needs one: Kestrel's accept loop retries a failing accept at once (a busy loop for as long
// as the limit lasts), and the runtime can fail fatally when it cannot open a file it needs (seen here: "Out of memory."
// and an abort, in 3 runs of 3 with 500 connections under `ulimit -n 400`).
//
// Two bounds, both from the soft limit (`ulimit -n`) less the descriptors open at start:
// - Hard: the socket listeners stop accepting while this many accepted sockets are still open (GatedListenerFactory);
//   peers wait in the listen backlog. A reserve stays for the runtime, files and outbound connections.
// - Soft: Kestrel's MaxConcurrentConnections, a little lower, unless the app set it: Kestrel accepts a connection over
//   it and closes it at once, so a storm costs each extra peer a closed connection. The gap between the two bounds is
//   room for those short-lived sockets, which Kestrel accepts faster than it closes them.
// Linux only (the limits are read from /proc): elsewhere nothing is changed.
internal sealed class FileDescriptorBudget : IPostConfigureOptions<KestrelServerOptions>
{
    private readonly ILogger _logger;
    private long _accepted;
    private TaskCompletionSource? _room;

    public FileDescriptorBudget(ILoggerFactory loggerFactory)
        : this(loggerFactory, OperatingSystem.IsLinux() ? ReadSoftLimit() : null, OperatingSystem.IsLinux() ? CountOpen() : null)
    {
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

    // Kestrel's MaxConcurrentConnections, when the app leaves it unset.
    public long SoftLimit { get; }

    public long Accepted => Volatile.Read(ref _accepted);

    public void PostConfigure(string? name, KestrelServerOptions options)
    {
        if (options.Limits.MaxConcurrentConnections is null && SoftLimit != long.MaxValue)
        {
            options.Limits.MaxConcurrentConnections = SoftLimit;
        }
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
            await budget.WaitForRoomAsync(cancellationToken).ConfigureAwait(false);
            var connection = await inner.AcceptAsync(cancellationToken).ConfigureAwait(false);
            if (connection is null)
            {
                return null;
            }

            budget.OnAccepted();
            return new CountedConnection(connection, budget);
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
