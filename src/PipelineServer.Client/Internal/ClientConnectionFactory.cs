using System.Net;
using Microsoft.AspNetCore.Connections;

namespace PipelineServer.Client.Internal;

// Connects through the transport, then runs the middleware chain on the new connection. The chain's terminal hands the
// (possibly wrapped) connection back to ConnectAsync and then waits until the caller disposes it, so middleware stays
// in place, and unwinds, around the caller's use of the connection.
internal sealed class ClientConnectionFactory(IConnectionFactory transport, ConnectionDelegate? pipeline, TimeSpan connectTimeout) : IConnectionFactory
{
    // Where middleware can find the endpoint the caller asked for (a DnsEndPoint's host name is TLS's default SNI).
    internal static readonly object RequestedEndPointKey = new();

    internal static Task Terminal(ConnectionContext connection)
    {
        var session = (ClientSession)connection.Items[typeof(ClientSession)]!;
        return session.Attach(connection);
    }

    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (connectTimeout != Timeout.InfiniteTimeSpan)
        {
            timeout.CancelAfter(connectTimeout);
        }

        ConnectionContext raw;
        try
        {
            raw = await transport.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Connecting to {endpoint} timed out after {connectTimeout.TotalSeconds:0.###} s.");
        }

        if (pipeline is null)
        {
            return raw;
        }

        var session = new ClientSession(raw);
        raw.Items[typeof(ClientSession)] = session;
        raw.Items[RequestedEndPointKey] = endpoint;
        session.Run(pipeline);
        try
        {
            return await session.Ready.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // A middleware failed (a TLS handshake, say) or the connect timed out: nothing is left half open.
            raw.Abort(new ConnectionAbortedException("The connection's middleware did not complete.", ex));
            await session.DisposeAsync().ConfigureAwait(false);
            // Only the timer makes it a timeout: ConnectionAbortedException, which a middleware may throw to refuse the
            // connection, is an OperationCanceledException too.
            if (ex is OperationCanceledException && timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Connecting to {endpoint} timed out after {connectTimeout.TotalSeconds:0.###} s.", ex);
            }

            throw;
        }
    }
}
