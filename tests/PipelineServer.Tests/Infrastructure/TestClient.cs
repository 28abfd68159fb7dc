using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using EchoServer;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Protocols.Framing;
using PipelineServer.Testing;
using PipelineServer.Transports.Memory;

namespace PipelineServer.Tests.Infrastructure;

/// <summary>A client connection over either transport, speaking raw bytes or the echo protocol.</summary>
public sealed class TestClient : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    private static readonly LengthFieldFrameReader s_frames = EchoProtocol.CreateReader(int.MaxValue);

    private readonly Socket? _socket;
    private readonly ConnectionContext? _memory;

    private TestClient(Socket socket)
    {
        _socket = socket;
        var stream = new NetworkStream(socket, ownsSocket: false);
        Input = PipeReader.Create(stream);
        Output = PipeWriter.Create(stream);
    }

    private TestClient(ConnectionContext memory)
    {
        _memory = memory;
        Input = memory.Transport.Input;
        Output = memory.Transport.Output;
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    public static async Task<TestClient> ConnectAsync(EndPoint endPoint, MemoryTransport? memory = null)
    {
        using var cts = new CancellationTokenSource(Timeout);
        if (endPoint is MemoryEndPoint)
        {
            return new TestClient(await memory!.ConnectAsync(endPoint, cts.Token));
        }

        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint, cts.Token);
        return new TestClient(socket);
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await Output.WriteAsync(bytes, cts.Token);
    }

    public Task SendFrameAsync(ReadOnlyMemory<byte> payload) => SendAsync(Frame(payload.Span));

    public async Task<byte[]> ReceiveFrameAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        return await Input.ReceiveMessageAsync(s_frames, static f => f.ToArray(), cts.Token);
    }

    public async Task<byte[]> ReceiveExactlyAsync(int count)
    {
        using var cts = new CancellationTokenSource(Timeout);
        return await Input.ReceiveExactlyAsync(count, cts.Token);
    }

    /// <summary>Waits for the server to close the connection; returns how it ended (bytes before a clean end, or the reset).</summary>
    public async Task<(byte[] Received, Exception? Error)> WaitForCloseAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            return (await Input.ReceiveToEndAsync(cts.Token), null);
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or SocketException)
        {
            return ([], ex);
        }
    }

    /// <summary>Half-closes: the server reads the end of the stream but can still answer.</summary>
    public async Task CompleteSendingAsync()
    {
        if (_socket is not null)
        {
            await Output.FlushAsync();
            _socket.Shutdown(SocketShutdown.Send);
        }
        else
        {
            await Output.CompleteAsync();
        }
    }

    /// <summary>Resets the connection (RST on a socket, abort in memory).</summary>
    public void Reset()
    {
        if (_socket is not null)
        {
            _socket.LingerState = new LingerOption(true, 0);
            _socket.Close();
        }
        else
        {
            _memory!.Abort(new ConnectionAbortedException("The test client reset the connection."));
        }
    }

    public static byte[] Frame(ReadOnlySpan<byte> payload)
    {
        var frame = new byte[payload.Length + 4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(frame, payload.Length);
        payload.CopyTo(frame.AsSpan(4));
        return frame;
    }

    public async ValueTask DisposeAsync()
    {
        if (_socket is not null)
        {
            await Input.CompleteAsync();
            await Output.CompleteAsync();
            _socket.Dispose();
        }
        else
        {
            await _memory!.DisposeAsync();
        }
    }
}
