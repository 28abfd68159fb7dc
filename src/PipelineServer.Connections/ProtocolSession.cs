using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Protocols;

namespace PipelineServer;

/// <summary>
/// One connection running a protocol, as its handler sees it: write responses, keep per-connection state, close.
/// </summary>
/// <typeparam name="TOutbound">The type of messages sent.</typeparam>
/// <remarks>
/// Writes are thread-safe: a handler may also push messages from other threads (a broadcast, a timer) with
/// <see cref="WriteAsync"/>. Once the connection has closed, writes throw <see cref="ConnectionClosedException"/>.
/// </remarks>
public sealed class ProtocolSession<TOutbound>
{
    private readonly IMessageWriter<TOutbound> _messageWriter;
    private readonly PipeReader _input;
    private volatile bool _closeRequested;
    private volatile bool _draining;

    internal ProtocolSession(ConnectionContext connection, PipeReader input, ProtocolWriter writer, IMessageWriter<TOutbound> messageWriter, IServiceProvider services)
    {
        Connection = connection;
        _input = input;
        Writer = writer;
        _messageWriter = messageWriter;
        Services = services;
    }

    /// <summary>The underlying connection: features, transport, endpoints.</summary>
    public ConnectionContext Connection { get; }

    /// <summary>The connection's identifier, as in the server's logs.</summary>
    public string ConnectionId => Connection.ConnectionId;

    /// <summary>The peer's address.</summary>
    public EndPoint? RemoteEndPoint => Connection.RemoteEndPoint;

    /// <summary>The local address the connection was accepted on.</summary>
    public EndPoint? LocalEndPoint => Connection.LocalEndPoint;

    /// <summary>
    /// Services for this connection: a per-connection scope when <see cref="ProtocolOptions.CreateServiceScope"/> is set,
    /// otherwise the application's services.
    /// </summary>
    public IServiceProvider Services { get; }

    /// <summary>A slot for the handler's per-connection state.</summary>
    public object? State { get; set; }

    /// <summary>Per-connection items, shared with connection middleware.</summary>
    public IDictionary<object, object?> Items => Connection.Items;

    /// <summary>Fires when the connection is closed or aborted.</summary>
    public CancellationToken ConnectionClosed => Connection.ConnectionClosed;

    /// <summary>
    /// The writer behind <see cref="Write"/>, for writing messages of another type with another codec on the same
    /// connection.
    /// </summary>
    public ProtocolWriter Writer { get; }

    /// <summary>
    /// <see langword="true"/> once the connection is closing: <see cref="Close"/> was called, or the server is shutting
    /// down and finishing the messages it has already received.
    /// </summary>
    public bool IsClosing => _closeRequested || _draining;

    internal bool CloseRequested => _closeRequested;

    internal bool IsDraining => _draining;

    /// <summary>
    /// Queues a message. It is sent with the other responses of the current batch, when the server has handled every
    /// message already received, or as soon as the connection holds <see cref="ProtocolOptions.OutputHighWaterMark"/>
    /// bytes; call <see cref="FlushAsync"/> to send it sooner.
    /// </summary>
    /// <param name="message">The message.</param>
    /// <exception cref="ConnectionClosedException">
    /// The connection is closed, or this write found <see cref="ProtocolOptions.MaxBufferedOutput"/> bytes held that the
    /// peer had not taken (the connection is then aborted).
    /// </exception>
    public void Write(TOutbound message) => Writer.Write(_messageWriter, message);

    /// <summary>Writes a message and sends it at once, waiting if the peer is slow to read.</summary>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancels the wait (the message stays queued).</param>
    /// <returns>A task that completes when the transport has accepted the message.</returns>
    /// <exception cref="ConnectionClosedException">The connection is closed.</exception>
    public ValueTask WriteAsync(TOutbound message, CancellationToken cancellationToken = default) =>
        Writer.WriteAsync(_messageWriter, message, cancellationToken);

    /// <summary>Sends everything written so far.</summary>
    /// <param name="cancellationToken">Cancels the wait (the data stays queued).</param>
    /// <returns>A task that completes when the transport has accepted the data.</returns>
    /// <exception cref="ConnectionClosedException">The connection is closed.</exception>
    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => Writer.FlushAsync(cancellationToken);

    /// <summary>
    /// Closes the connection gracefully: no further message is handled, responses already written are sent, then the
    /// connection ends. Safe to call from any thread.
    /// </summary>
    public void Close()
    {
        _closeRequested = true;
        _input.CancelPendingRead();
    }

    /// <summary>Aborts the connection at once; unsent responses are dropped.</summary>
    /// <param name="reason">Why, for the logs and for pending reads.</param>
    public void Abort(string reason) => Connection.Abort(new ConnectionAbortedException(reason));

    internal void BeginDrain()
    {
        _draining = true;
        _input.CancelPendingRead();
    }
}
