using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace PipelineServer.Transports.Memory;

/// <summary>
/// An in-memory transport: listeners and connections joined by pipes, with no sockets. Register it as an
/// <see cref="IConnectionListenerFactory"/> to run a server (Kestrel included) on <see cref="MemoryEndPoint"/>s, and
/// connect to it with <see cref="ConnectAsync"/>.
/// </summary>
/// <remarks>
/// <para>
/// Connections behave like TCP ones: data written by one end is read by the other with backpressure (1 MiB buffered
/// towards the application, 64 KiB from it, as Kestrel's defaults); completing the output is a half-close the peer
/// reads as the end of the stream; <see cref="ConnectionContext.Abort(ConnectionAbortedException)"/> makes the aborting
/// end's reads throw its <see cref="ConnectionAbortedException"/> and the peer's reads throw
/// <see cref="ConnectionResetException"/>. Connecting to a name nobody listens on throws a
/// <see cref="SocketException"/> with <see cref="SocketError.ConnectionRefused"/>.
/// </para>
/// <para>As an <see cref="IConnectionListenerFactorySelector"/> it binds only <see cref="MemoryEndPoint"/>s, so Kestrel
/// keeps using its socket transport for IP and Unix endpoints.</para>
/// </remarks>
public sealed class MemoryTransport : IConnectionListenerFactory, IConnectionListenerFactorySelector, IConnectionFactory
{
    private const long InputBufferSize = 1024 * 1024;
    private const long OutputBufferSize = 64 * 1024;

    private readonly ConcurrentDictionary<string, MemoryConnectionListener> _listeners = new(StringComparer.Ordinal);
    private readonly PipeOptions _inputOptions;
    private readonly PipeOptions _outputOptions;

    /// <summary>Creates a transport.</summary>
    /// <param name="memoryPool">The pool for pipe buffers; the shared pool when <see langword="null"/>.</param>
    public MemoryTransport(MemoryPool<byte>? memoryPool = null)
    {
        _inputOptions = new PipeOptions(memoryPool, pauseWriterThreshold: InputBufferSize, resumeWriterThreshold: InputBufferSize / 2, useSynchronizationContext: false);
        _outputOptions = new PipeOptions(memoryPool, pauseWriterThreshold: OutputBufferSize, resumeWriterThreshold: OutputBufferSize / 2, useSynchronizationContext: false);
    }

    /// <inheritdoc />
    public bool CanBind(EndPoint endpoint) => endpoint is MemoryEndPoint;

    /// <inheritdoc />
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var memoryEndPoint = AsMemoryEndPoint(endpoint);
        cancellationToken.ThrowIfCancellationRequested();
        var listener = new MemoryConnectionListener(this, memoryEndPoint);
        if (!_listeners.TryAdd(memoryEndPoint.Name, listener))
        {
            throw new AddressInUseException($"Something is already listening on {memoryEndPoint}.");
        }

        return new(listener);
    }

    /// <summary>Connects to a listener of this transport.</summary>
    /// <param name="endpoint">A <see cref="MemoryEndPoint"/>.</param>
    /// <param name="cancellationToken">Cancels the connect.</param>
    /// <returns>The client end of the connection. Dispose it to close the connection.</returns>
    /// <exception cref="SocketException">Nothing listens on <paramref name="endpoint"/> (<see cref="SocketError.ConnectionRefused"/>).</exception>
    public ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var memoryEndPoint = AsMemoryEndPoint(endpoint);
        cancellationToken.ThrowIfCancellationRequested();
        if (!_listeners.TryGetValue(memoryEndPoint.Name, out var listener))
        {
            throw new SocketException((int)SocketError.ConnectionRefused);
        }

        var pair = new MemoryConnectionPair(_inputOptions, _outputOptions, memoryEndPoint);
        if (!listener.TryEnqueue(pair.Server))
        {
            throw new SocketException((int)SocketError.ConnectionRefused);
        }

        pair.Start();
        return new(pair.Client);
    }

    internal void Remove(MemoryConnectionListener listener) =>
        _listeners.TryRemove(new KeyValuePair<string, MemoryConnectionListener>(((MemoryEndPoint)listener.EndPoint).Name, listener));

    private static MemoryEndPoint AsMemoryEndPoint(EndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return endpoint as MemoryEndPoint
            ?? throw new NotSupportedException($"The in-memory transport only handles {nameof(MemoryEndPoint)}, not {endpoint.GetType().Name} ({endpoint}).");
    }
}
