using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace PipelineServer.Client.Transports.Sockets;

// A client socket connection: the socket is read into the Input pipe and the Output pipe is written to the socket by
// two loops, with no Stream in between and no allocation per read or write in steady state.
internal sealed class SocketConnection : ConnectionContext,
    IConnectionIdFeature,
    IConnectionTransportFeature,
    IConnectionItemsFeature,
    IConnectionLifetimeFeature,
    IConnectionEndPointFeature
{
    private const int MinimumReceiveBuffer = 2048;
    private const int DefaultSegmentSize = 4096;
    private const int MaximumSegmentSize = 1024 * 1024;

    // Shared by every client socket connection that is given no pool of its own.
    private static readonly MemoryPool<byte> s_defaultPool = new PipelineServer.Buffers.BlockMemoryPool();

    // How long disposing waits for written data to be sent before giving up and resetting the connection.
    private static readonly TimeSpan s_gracefulCloseTimeout = TimeSpan.FromSeconds(5);
    private static long s_nextId;

    private readonly Socket _socket;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly bool _waitForData;
    private readonly SocketOperation _receive = new();
    private readonly SocketOperation _send = new();
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2213:Disposable fields should be disposed", Justification = "Cancelled from the thread pool, possibly after disposal; holds no timer.")]
    private readonly CancellationTokenSource _closed = new();
    private IDictionary<object, object?>? _items;
    private Task _receiving = Task.CompletedTask;
    private Task _sending = Task.CompletedTask;
    private volatile ConnectionAbortedException? _abortReason;
    private int _closedSignaled;
    private int _disposed;

    public SocketConnection(Socket socket, SocketConnectionOptions options)
    {
        _socket = socket;
        _waitForData = options.WaitForDataBeforeAllocatingBuffer;
        // Application continuations run on the thread pool. The transport's side of each pipe (the receive loop when
        // it waits on a full input, the send loop when the application flushes) runs on an IOQueue: a flush only queues
        // the send loop, so writes made meanwhile by other threads join the same send, and bursts share one dispatch.
        // UnsafePreferInlineScheduling runs both inline instead.
        var inline = options.UnsafePreferInlineScheduling;
        PipeScheduler transportScheduler = inline ? PipeScheduler.Inline : IOQueue.Next();
        var applicationScheduler = inline ? PipeScheduler.Inline : PipeScheduler.ThreadPool;

        // Whole pool blocks as segments: a receive fills as much of a block as the socket has.
        var pool = options.MemoryPool ?? s_defaultPool;
        var segmentSize = pool.MaxBufferSize is >= MinimumReceiveBuffer and <= MaximumSegmentSize ? pool.MaxBufferSize : DefaultSegmentSize;
        _input = new Pipe(new PipeOptions(
            pool,
            readerScheduler: applicationScheduler,
            writerScheduler: transportScheduler,
            pauseWriterThreshold: options.MaxReadBufferSize,
            resumeWriterThreshold: options.MaxReadBufferSize / 2,
            minimumSegmentSize: segmentSize,
            useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(
            pool,
            readerScheduler: transportScheduler,
            writerScheduler: applicationScheduler,
            pauseWriterThreshold: options.MaxWriteBufferSize,
            resumeWriterThreshold: options.MaxWriteBufferSize / 2,
            minimumSegmentSize: segmentSize,
            useSynchronizationContext: false));

        Transport = new PipelineServer.Internal.ClientDuplexPipe(_input.Reader, _output.Writer);
        ConnectionId = "client-" + Interlocked.Increment(ref s_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;

        Features = new FeatureCollection();
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
    }

    internal Socket Socket => _socket;

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }

    public override IDuplexPipe Transport { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException("The socket transport owns its ConnectionClosed token.");
    }

    public void Start()
    {
        _receiving = ReceiveLoopAsync();
        _sending = SendLoopAsync();
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _abortReason ??= abortReason ?? new ConnectionAbortedException("The connection was aborted by the application.");

        // A real abort: the peer gets a reset, both loops stop, unsent output is dropped.
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        _socket.Dispose();
        _output.Reader.CancelPendingRead();
        SignalClosed();
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // The application is done: send what it wrote, then FIN; then stop receiving and close the socket.
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _sending.WaitAsync(s_gracefulCloseTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The peer stopped reading: do not hang on it.
            Abort(new ConnectionAbortedException("The connection was reset because its output could not be sent before it was disposed."));
        }

        _socket.Dispose();
        await _receiving.ConfigureAwait(false);
        await _sending.ConfigureAwait(false);
        _receive.Dispose();
        _send.Dispose();
        SignalClosed();
    }

    private async Task ReceiveLoopAsync()
    {
        var writer = _input.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                if (_waitForData)
                {
                    await _receive.ReceiveAsync(_socket, Memory<byte>.Empty).ConfigureAwait(false);
                }

                var buffer = writer.GetMemory(MinimumReceiveBuffer);
                var received = await _receive.ReceiveAsync(_socket, buffer).ConfigureAwait(false);
                if (received == 0)
                {
                    // The peer finished sending (FIN).
                    break;
                }

                writer.Advance(received);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            error = Translate(ex);
        }
        finally
        {
            await writer.CompleteAsync(_abortReason ?? error).ConfigureAwait(false);
            SignalClosed();
        }
    }

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }

                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    await _send.SendAsync(_socket, buffer).ConfigureAwait(false);
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            if (_abortReason is null)
            {
                _socket.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception ex)
        {
            error = Translate(ex);
        }
        finally
        {
            // The application's later flushes report completion: nothing more can be sent.
            await reader.CompleteAsync(_abortReason is null ? null : error).ConfigureAwait(false);
        }
    }

    private Exception? Translate(Exception ex)
    {
        if (_abortReason is { } aborted)
        {
            return aborted;
        }

        if (_disposed != 0 && ex is ObjectDisposedException or SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Shutdown })
        {
            // Our own close.
            return null;
        }

        return ex switch
        {
            SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown } socketError =>
                new ConnectionResetException(socketError.Message, socketError),
            SocketException socketError => new IOException(socketError.Message, socketError),
            ObjectDisposedException => new ConnectionAbortedException("The socket was closed."),
            _ => ex,
        };
    }

    private void SignalClosed()
    {
        if (Interlocked.Exchange(ref _closedSignaled, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static cts => cts.Cancel(), _closed, preferLocal: false);
        }
    }
}
