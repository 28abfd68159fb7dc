using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using PipelineServer.Internal;

namespace PipelineServer.Transports.Memory;

// One end of an in-memory connection. Like a socket transport it owns two pipes: Input (written by the wire, read by
// the application) and Output (written by the application, read by the wire); MemoryConnectionPair's pumps are the wire.
internal sealed class MemoryConnectionContext : ConnectionContext,
    IConnectionIdFeature,
    IConnectionTransportFeature,
    IConnectionItemsFeature,
    IConnectionLifetimeFeature,
    IConnectionEndPointFeature
{
    private static long s_nextId;

    // Never disposed: ConnectionClosed may be cancelled from the thread pool after the connection is disposed, and the
    // source holds no timer or unmanaged resource.
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2213:Disposable fields should be disposed", Justification = "See above.")]
    private readonly CancellationTokenSource _closed = new();
    private IDictionary<object, object?>? _items;
    private int _closedSignaled;
    private int _disposed;

    public MemoryConnectionContext(MemoryConnectionPair pair, PipeOptions inputOptions, PipeOptions outputOptions, EndPoint localEndPoint, EndPoint remoteEndPoint)
    {
        Pair = pair;
        InputPipe = new Pipe(inputOptions);
        OutputPipe = new Pipe(outputOptions);
        Transport = new DuplexPipe(InputPipe.Reader, OutputPipe.Writer);
        ConnectionId = "mem-" + Interlocked.Increment(ref s_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        LocalEndPoint = localEndPoint;
        RemoteEndPoint = remoteEndPoint;

        Features = new FeatureCollection();
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
    }

    public MemoryConnectionPair Pair { get; }

    public Pipe InputPipe { get; }

    public Pipe OutputPipe { get; }

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
        set => throw new NotSupportedException("The in-memory transport owns its ConnectionClosed token.");
    }

    public override void Abort(ConnectionAbortedException abortReason) => Pair.Abort(this, abortReason);

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            // As a socket transport does on dispose: the application is done with its ends of the pipes. Output
            // still buffered goes out, then the peer sees the end of the stream.
            await InputPipe.Reader.CompleteAsync().ConfigureAwait(false);
            await OutputPipe.Writer.CompleteAsync().ConfigureAwait(false);
            SignalClosed();
        }
    }

    public void SignalClosed()
    {
        if (Interlocked.Exchange(ref _closedSignaled, 1) == 0)
        {
            // Callbacks run on the thread pool, never inline on the thread that closed the connection.
            ThreadPool.UnsafeQueueUserWorkItem(static cts => cts.Cancel(), _closed, preferLocal: false);
        }
    }
}
