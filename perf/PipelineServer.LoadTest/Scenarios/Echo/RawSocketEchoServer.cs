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

    private static async Task EchoAsync(Socket socket)
    {
        var buffer = new byte[64 * 1024];
        var filled = 0;
        try
        {
            while (true)
            {
                if (filled == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                }

                var received = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
                if (received == 0)
                {
                    return;
                }

                filled += received;
                var offset = 0;
                while (filled - offset >= 4)
                {
                    var length = BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(offset));
                    if (filled - offset < 4 + length)
                    {
                        break;
                    }

                    offset += 4 + length;
                }

                if (offset > 0)
                {
                    await socket.SendAsync(buffer.AsMemory(0, offset), SocketFlags.None);
                    buffer.AsSpan(offset, filled - offset).CopyTo(buffer);
                    filled -= offset;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }
}
