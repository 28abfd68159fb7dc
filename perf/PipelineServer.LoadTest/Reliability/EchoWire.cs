using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace PipelineServer.LoadTest.Reliability;

/// <summary>
/// The echo protocol on plain sockets, for the reliability runs: they hold thousands of connections, most of them
/// idle, so each is a bare <see cref="Socket"/> with no pipe or buffer of its own until it sends.
/// </summary>
internal static class EchoWire
{
    public const int HeaderLength = 4;

    public static async Task<Socket> ConnectAsync(EndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A whole frame whose payload is unique to <paramref name="id"/>: the id in its first 8 bytes (when there is room),
    /// then bytes drawn from a generator seeded with it, so an echo delivered to the wrong connection is caught.
    /// </summary>
    public static byte[] Frame(long id, int payloadLength)
    {
        var frame = new byte[HeaderLength + payloadLength];
        BinaryPrimitives.WriteInt32BigEndian(frame, payloadLength);
        var payload = frame.AsSpan(HeaderLength);
        new Random(unchecked((int)id ^ (int)(id >> 32) ^ 0x5eed)).NextBytes(payload);
        if (payload.Length >= sizeof(long))
        {
            BinaryPrimitives.WriteInt64BigEndian(payload, id);
        }

        return frame;
    }

    public static async ValueTask SendAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None, cancellationToken);
            data = data[sent..];
        }
    }

    /// <summary>Sends <paramref name="frame"/> and reads its echo into <paramref name="receive"/>; throws <see cref="EchoMismatchException"/> if it differs.</summary>
    public static async ValueTask EchoAsync(Socket socket, ReadOnlyMemory<byte> frame, Memory<byte> receive, CancellationToken cancellationToken)
    {
        await SendAsync(socket, frame, cancellationToken);
        var echo = receive[..frame.Length];
        await ReceiveExactlyAsync(socket, echo, cancellationToken);
        if (!echo.Span.SequenceEqual(frame.Span))
        {
            throw new EchoMismatchException();
        }
    }

    public static async ValueTask ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            var received = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (received == 0)
            {
                throw new IOException("The server closed the connection before the echo was complete.");
            }

            buffer = buffer[received..];
        }
    }

    /// <summary>
    /// A graceful close from the client: FIN, then wait for the server's FIN (the echo servers close once the input
    /// completes) before letting go of the socket. Anything received instead is a protocol error.
    /// </summary>
    public static async ValueTask CloseGracefullyAsync(Socket socket, CancellationToken cancellationToken)
    {
        socket.Shutdown(SocketShutdown.Send);
        var buffer = new byte[1];
        if (await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken) != 0)
        {
            throw new IOException("The server sent data after the client's last request had been answered.");
        }

        socket.Dispose();
    }

    /// <summary>An abortive close: linger 0, so the kernel sends RST instead of FIN and keeps no TIME_WAIT.</summary>
    public static void Reset(Socket socket)
    {
        socket.LingerState = new LingerOption(true, 0);
        socket.Dispose();
    }

    /// <summary>A timeout for one exchange that also ends when <paramref name="cancellationToken"/> does.</summary>
    public static CancellationTokenSource Timeout(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        source.CancelAfter(timeout);
        return source;
    }
}

/// <summary>An echo differed from the frame sent.</summary>
internal sealed class EchoMismatchException() : Exception("The echo did not match the frame sent.");
