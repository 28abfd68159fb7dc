using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Client.Transports.Sockets;

namespace PipelineServer.Client;

/// <summary>
/// Connects over TCP (<see cref="IPEndPoint"/>, <see cref="DnsEndPoint"/>) or Unix domain sockets
/// (<see cref="UnixDomainSocketEndPoint"/>), yielding connections whose pipes are fed straight from the socket.
/// </summary>
/// <remarks>
/// <see cref="ConnectionContext.Abort(ConnectionAbortedException)"/> resets the connection (the peer sees a reset, the
/// connection's own reads throw the abort reason) and <see cref="BaseConnectionContext.ConnectionClosed"/> fires when the
/// connection ends, whichever side ended it. Disposing sends what was written, then closes gracefully.
/// </remarks>
public sealed class SocketConnectionFactory : IConnectionFactory
{
    private readonly SocketConnectionOptions _options;

    /// <summary>Creates a factory.</summary>
    /// <param name="options">Socket and buffer options; defaults when <see langword="null"/>.</param>
    public SocketConnectionFactory(SocketConnectionOptions? options = null) => _options = options ?? new SocketConnectionOptions();

    /// <inheritdoc />
    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var socket = endpoint switch
        {
            UnixDomainSocketEndPoint => new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified),
            IPEndPoint ip => new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp),
            DnsEndPoint or _ => new Socket(SocketType.Stream, ProtocolType.Tcp),
        };

        try
        {
            if (socket.AddressFamily != AddressFamily.Unix)
            {
                socket.NoDelay = _options.NoDelay;
            }

            if (socket.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // So that IPv4-mapped addresses (::ffff:127.0.0.1) connect too.
                socket.DualMode = true;
            }

            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var connection = new SocketConnection(socket, _options);
        connection.Start();
        return connection;
    }
}
