using System.Net;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Middleware;

internal static class MiddlewareTestKit
{
    /// <summary>
    /// The in-memory transport has no IP addresses; this stands in for the socket layer so that address-based middleware
    /// runs the same over both transports. On sockets it does nothing.
    /// </summary>
    public static void GiveMemoryConnectionsAnAddress(this ListenOptions listen, TransportKind transport, IPAddress address)
    {
        if (transport == TransportKind.Memory)
        {
            listen.Use(next => connection =>
            {
                connection.RemoteEndPoint = new IPEndPoint(address, 40000);
                return next(connection);
            });
        }
    }

    /// <summary>A handler that answers every message with the connection's remote and local endpoints as text.</summary>
    public sealed class WhoAmIHandler : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            session.Write(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes($"{session.RemoteEndPoint} {session.LocalEndPoint}")));
            return default;
        }
    }

    public static async Task AssertEchoesAsync(TestClient client, byte value = 7)
    {
        await client.SendFrameAsync(new[] { value });
        Assert.Equal([value], await client.ReceiveFrameAsync());
    }

    /// <summary>The server closed the connection without sending anything (cleanly or with a reset).</summary>
    public static async Task AssertClosedWithoutReplyAsync(TestClient client)
    {
        var (received, _) = await client.WaitForCloseAsync();
        Assert.Empty(received);
    }
}
