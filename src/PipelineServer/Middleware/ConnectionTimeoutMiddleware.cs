using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using PipelineServer.Diagnostics;
using PipelineServer.Internal;

namespace PipelineServer.Middleware;

// Watches each connection's input through a PipeReader wrapper that notes when the reader waits for data, when data
// arrives and whether what the protocol consumed left a partial message behind (a protocol reader consumes whole
// messages only). One heartbeat timer per endpoint checks every connection, as Kestrel's own heartbeat does for HTTP;
// the per-read cost is a timestamp and a few field writes.
internal sealed class ConnectionTimeoutMiddleware
{
    private readonly ConnectionDelegate _next;
    private readonly ILogger _logger;
    private readonly PeerFaultLog _faults;
    private readonly TimeProvider _time;
    private readonly long _idle;
    private readonly long _firstMessage;
    private readonly long _slowMessage;
    private readonly long _write;
    private readonly ConcurrentDictionary<WatchedInput, byte> _connections = new();
    private readonly ITimer _heartbeat;

    public ConnectionTimeoutMiddleware(ConnectionDelegate next, ConnectionTimeoutOptions options, TimeProvider time, ILogger logger, PeerFaultLog faults)
    {
        _faults = faults;
        _next = next;
        _logger = logger;
        _time = time;
        _idle = ToTicks(options.IdleTimeout);
        _firstMessage = ToTicks(options.FirstMessageTimeout);
        _slowMessage = ToTicks(options.SlowMessageTimeout);
        _write = ToTicks(options.WriteTimeout);

        // A timeout fires within a quarter of itself (at most a second) after it runs out.
        var shortest = new[] { options.IdleTimeout, options.FirstMessageTimeout, options.SlowMessageTimeout, options.WriteTimeout }
            .Where(static t => t.HasValue).Min(static t => t!.Value);
        var period = TimeSpan.FromTicks(Math.Clamp(shortest.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));

        _heartbeat = WeakTimer.Start(_time, this, static middleware => middleware.OnHeartbeat(), period);
    }

    ~ConnectionTimeoutMiddleware() => _heartbeat.Dispose();

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var transport = connection.Transport;
        var output = _write > 0 ? new WatchedOutput(transport.Output, _time) : null;
        var input = new WatchedInput(transport.Input, connection, _time, output);
        _connections.TryAdd(input, 0);
        connection.Transport = new DuplexPipe(input, output ?? transport.Output);
        try
        {
            await _next(connection).ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(input, out _);
            connection.Transport = transport;
        }
    }

    private void OnHeartbeat()
    {
        var now = _time.GetTimestamp();
        foreach (var (input, _) in _connections)
        {
            var reason = input.Check(now, _idle, _firstMessage, _slowMessage, _write, _time);
            if (reason is null || !_connections.TryRemove(input, out _))
            {
                continue;
            }

            var connection = input.Connection;
            var (message, fault) = reason switch
            {
                ConnectionCloseReason.IdleTimeout => ("idle timeout", PeerFault.IdleTimeout),
                ConnectionCloseReason.FirstMessageTimeout => ("no complete message within the first-message timeout", PeerFault.FirstMessageTimeout),
                ConnectionCloseReason.WriteTimeout => ("the peer did not take what was sent within the write timeout", PeerFault.WriteTimeout),
                _ => ("a message was not completed within the slow-message timeout", PeerFault.SlowMessageTimeout),
            };
            ConnectionCloseReason.Set(connection, reason);
            MiddlewareLog.ConnectionTimedOut(_logger, connection.ConnectionId, connection.RemoteEndPoint?.ToString(), message);
            _faults.Report(fault);
            connection.Abort(new ConnectionAbortedException("The connection was closed: " + message + "."));
        }
    }

    private static long ToTicks(TimeSpan? timeout)
    {
        if (timeout is { } value)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero, nameof(timeout));
            return value.Ticks;
        }

        return 0;
    }

    // Timestamps are the TimeProvider's; 0 means "not set". Fields are written by the connection's reader and read by
    // the heartbeat without a lock: a stale read delays a timeout by one heartbeat at most.
    internal sealed class WatchedInput : PipeReader
    {
        private readonly PipeReader _inner;
        private readonly TimeProvider _time;
        private readonly long _openedAt;
        private ReadOnlySequence<byte> _buffer;
        private long _idleSince;
        private long _partialSince;
        private bool _holding;
        private bool _consumedAny;

        private readonly WatchedOutput? _output;

        public WatchedInput(PipeReader inner, ConnectionContext connection, TimeProvider time, WatchedOutput? output)
        {
            _inner = inner;
            _output = output;
            _time = time;
            Connection = connection;
            _openedAt = time.GetTimestamp();
            _idleSince = _openedAt;
        }

        public ConnectionContext Connection { get; }

        public string? Check(long now, long idle, long firstMessage, long slowMessage, long write, TimeProvider time)
        {
            if (write > 0 && _output?.BlockedSince is long blockedSince and not 0 && Elapsed(blockedSince, now, time) > write)
            {
                return ConnectionCloseReason.WriteTimeout;
            }

            if (firstMessage > 0 && !Volatile.Read(ref _consumedAny) && Elapsed(_openedAt, now, time) > firstMessage)
            {
                return ConnectionCloseReason.FirstMessageTimeout;
            }

            var partialSince = Volatile.Read(ref _partialSince);
            if (slowMessage > 0 && partialSince != 0 && Elapsed(partialSince, now, time) > slowMessage)
            {
                return ConnectionCloseReason.SlowMessageTimeout;
            }

            // Idle: the server has handed back everything it read (it is not busy with a message) and nothing, not even
            // part of a message, has arrived since.
            if (idle > 0 && !Volatile.Read(ref _holding) && partialSince == 0 && Elapsed(Volatile.Read(ref _idleSince), now, time) > idle)
            {
                return ConnectionCloseReason.IdleTimeout;
            }

            return null;
        }

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var read = _inner.ReadAsync(cancellationToken);
            if (read.IsCompletedSuccessfully)
            {
                var result = read.Result;
                OnData(result);
                return new ValueTask<ReadResult>(result);
            }

            return AwaitData(read);
        }

        public override bool TryRead(out ReadResult result)
        {
            if (_inner.TryRead(out result))
            {
                OnData(result);
                return true;
            }

            return false;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            var now = _time.GetTimestamp();
            var progressed = !consumed.Equals(_buffer.Start);
            var partial = !consumed.Equals(_buffer.End);
            if (progressed)
            {
                Volatile.Write(ref _consumedAny, true);
                // What is left, if anything, is the start of the next message.
                Volatile.Write(ref _partialSince, partial ? now : 0);
            }
            else if (partial && Volatile.Read(ref _partialSince) == 0)
            {
                Volatile.Write(ref _partialSince, now);
            }

            _buffer = default;
            Volatile.Write(ref _idleSince, now);
            Volatile.Write(ref _holding, false);
            _inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => _inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => _inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => _inner.CompleteAsync(exception);

        // Pooled: a connection waiting for its next batch allocates nothing in steady state.
        [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<ReadResult> AwaitData(ValueTask<ReadResult> read)
        {
            var result = await read.ConfigureAwait(false);
            OnData(result);
            return result;
        }

        private void OnData(in ReadResult result)
        {
            _buffer = result.Buffer;
            Volatile.Write(ref _holding, true);
        }

        private static long Elapsed(long since, long now, TimeProvider time) => time.GetElapsedTime(since, now).Ticks;
    }

    // Notes when a flush cannot complete because the transport's output is full: the peer is not taking what was sent.
    // A flush that completes at once (the usual case) costs a check of IsCompleted.
    internal sealed class WatchedOutput : PipeWriter
    {
        private readonly PipeWriter _inner;
        private readonly TimeProvider _time;
        private long _blockedSince;

        public WatchedOutput(PipeWriter inner, TimeProvider time)
        {
            _inner = inner;
            _time = time;
        }

        // The TimeProvider timestamp at which the pending flush started waiting; 0 when no flush is waiting.
        public long BlockedSince => Volatile.Read(ref _blockedSince);

        public override bool CanGetUnflushedBytes => _inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => _inner.UnflushedBytes;

        public override void Advance(int bytes) => _inner.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => _inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => _inner.GetSpan(sizeHint);

        public override void CancelPendingFlush() => _inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => _inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => _inner.CompleteAsync(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            var flush = _inner.FlushAsync(cancellationToken);
            return flush.IsCompleted ? flush : AwaitFlush(flush);
        }

        [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<FlushResult> AwaitFlush(ValueTask<FlushResult> flush)
        {
            Volatile.Write(ref _blockedSince, _time.GetTimestamp());
            try
            {
                return await flush.ConfigureAwait(false);
            }
            finally
            {
                Volatile.Write(ref _blockedSince, 0);
            }
        }
    }
}
