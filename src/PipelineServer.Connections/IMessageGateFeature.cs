namespace PipelineServer;

/// <summary>
/// A connection feature through which connection middleware paces the protocol on a connection: before each inbound
/// message goes to the handler, the protocol loop awaits <see cref="WaitAsync"/>. A gate that completes at once admits the
/// message; one that stays pending holds the connection's reading (backpressure: the peer's sends fill the socket
/// buffers); one that throws ends the connection. Rate limiting is built on it.
/// </summary>
/// <remarks>
/// There is one gate per connection. Middleware that installs a gate where another already is must keep the earlier one
/// and call it too (the rate-limit middleware does), so that gates compose in middleware order.
/// </remarks>
public interface IMessageGateFeature
{
    /// <summary>Admits the next inbound message. Completes synchronously on the fast path.</summary>
    /// <param name="cancellationToken">Fires when the connection is closing.</param>
    /// <returns>A task that completes when the message may be handled.</returns>
    ValueTask WaitAsync(CancellationToken cancellationToken);
}
