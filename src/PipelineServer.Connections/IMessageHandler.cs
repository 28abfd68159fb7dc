using PipelineServer.Protocols;

namespace PipelineServer;

/// <summary>
/// Handles the messages of a protocol: one message in, zero or more messages out, written through the session.
/// </summary>
/// <typeparam name="TInbound">The type of messages received.</typeparam>
/// <typeparam name="TOutbound">The type of messages sent.</typeparam>
/// <remarks>
/// <para>
/// <b>Lifetime.</b> One handler instance serves every connection of an endpoint, concurrently (Kestrel builds an
/// endpoint's connection pipeline once). Keep per-connection state on the <see cref="ProtocolSession{TOutbound}"/>
/// (<see cref="ProtocolSession{TOutbound}.State"/>, <see cref="ProtocolSession{TOutbound}.Items"/>, or services from a
/// per-connection scope, see <see cref="ProtocolOptions.CreateServiceScope"/>), never in fields of the handler.
/// </para>
/// <para>
/// <b>Messages.</b> For a given connection <see cref="OnMessageAsync"/> is called for one message at a time, in order.
/// A message may be a slice of the connection's receive buffer: it is valid until the returned task completes, so copy
/// anything you keep beyond that. Responses written with <see cref="ProtocolSession{TOutbound}.Write"/> are buffered and
/// sent together when no further message is already buffered (one flush per pipelined batch).
/// </para>
/// <para>
/// <b>Errors.</b> A <see cref="ProtocolException"/> from the codec closes the connection after
/// <see cref="OnProtocolErrorAsync"/>; any other exception from the handler is logged and closes the connection. Neither
/// affects other connections.
/// </para>
/// </remarks>
public interface IMessageHandler<TInbound, TOutbound>
{
    /// <summary>Called once when a connection starts, before its first message.</summary>
    /// <param name="session">The connection's session.</param>
    /// <returns>A task that completes when the handler is ready for messages.</returns>
    ValueTask OnConnectedAsync(ProtocolSession<TOutbound> session) => default;

    /// <summary>Handles one message.</summary>
    /// <param name="session">The connection's session, to write responses to.</param>
    /// <param name="message">The message; valid until the returned task completes.</param>
    /// <returns>A task that completes when the message has been handled.</returns>
    ValueTask OnMessageAsync(ProtocolSession<TOutbound> session, TInbound message);

    /// <summary>
    /// Called when the peer sent bytes that violate the protocol, before the connection is closed. Responses to earlier
    /// messages have been flushed; whatever this writes (an error reply, say) is flushed before the close.
    /// </summary>
    /// <param name="session">The connection's session.</param>
    /// <param name="error">The violation.</param>
    /// <returns>A task that completes when the handler is done.</returns>
    ValueTask OnProtocolErrorAsync(ProtocolSession<TOutbound> session, ProtocolException error) => default;

    /// <summary>Called once when the connection has ended; nothing more can be written.</summary>
    /// <param name="session">The connection's session.</param>
    /// <param name="error">
    /// Why it ended, or <see langword="null"/> for a clean close: a <see cref="ProtocolException"/>, a transport error
    /// such as <see cref="Microsoft.AspNetCore.Connections.ConnectionResetException"/>, or the handler's own exception.
    /// </param>
    /// <returns>A task that completes when the handler has released the connection's resources.</returns>
    ValueTask OnDisconnectedAsync(ProtocolSession<TOutbound> session, Exception? error) => default;
}
