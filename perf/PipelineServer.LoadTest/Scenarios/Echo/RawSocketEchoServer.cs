using System.Buffers.Binary;
using System.Net.Sockets;

namespace PipelineServer.LoadTest.Scenarios.Echo;

/// <summary>
/// A reference point below Kestrel: the echo protocol on bare sockets, one 64 KiB receive buffer per connection, whole
/// frames echoed with one send per receive. No pipes, no backpressure beyond the socket's, no limits worth the name:
/// it measures what the loopback and the runtime's sockets can do, not a server anyone should deploy.
/// </summary>
internal static class RawSocketEchoServer
{
    public static RunningServer Start() => BareServer.StartSockets(0, EchoAsync);

    private static Task EchoAsync(Socket socket) => BareServer.ServeSocketAsync(socket, 64 * 1024, EchoWholeFrames);

    // Every whole frame at the front goes back as it came, straight from the receive buffer.
    private static int EchoWholeFrames(Memory<byte> received, out ReadOnlyMemory<byte> reply)
    {
        var span = received.Span;
        var offset = 0;
        while (span.Length - offset >= 4)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(span[offset..]);
            if (span.Length - offset < 4 + length)
            {
                break;
            }

            offset += 4 + length;
        }

        reply = received[..offset];
        return offset;
    }
}
