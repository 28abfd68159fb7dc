using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace PipelineServer.LoadTest.Scenarios;

/// <summary>
/// The plumbing of the reference servers that have no PipelineServer code (the echo scenario's baseline and raw servers,
/// the resp floors): a bare Kestrel endpoint running one connection delegate, the read loop of such a connection, and a
/// bare socket accept loop.
/// </summary>
internal static class BareServer
{
    /// <summary>
    /// Answers the whole requests at the front of <paramref name="buffer"/> into <paramref name="output"/>; returns the
    /// bytes consumed (a partial request stays for the next read), or -1 to close the connection.
    /// </summary>
    public delegate long Responder(in ReadOnlySequence<byte> buffer, PipeWriter output, out int answered);

    /// <summary>
    /// Answers the whole requests at the front of <paramref name="received"/>; returns the bytes consumed, or -1 to close
    /// the connection, and sets <paramref name="reply"/> to the bytes to send (a slice of <paramref name="received"/> or
    /// of a buffer of the caller's, sent before the next read).
    /// </summary>
    public delegate int SocketResponder(Memory<byte> received, out ReadOnlyMemory<byte> reply);

    /// <summary>Starts a slim Kestrel host on loopback whose one endpoint runs <paramref name="serve"/> per connection.</summary>
    public static async Task<RunningServer> StartKestrelAsync(int port, Func<ConnectionContext, Task> serve, Action<SocketTransportOptions>? transport, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        if (transport is not null)
        {
            builder.Services.Configure(transport);
        }

        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen => listen.Run(serve)));
        var app = builder.Build();
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new RunningServer(new IPEndPoint(IPAddress.Loopback, new Uri(address).Port), async () =>
        {
            await app.StopAsync();
            await app.DisposeAsync();
        });
    }

    /// <summary>Reads until the peer is done: each read's whole requests answered, one flush per read that answered any.</summary>
    public static async Task RespondAsync(ConnectionContext connection, Responder responder)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync();
                var buffer = result.Buffer;
                var consumed = responder(buffer, output, out var answered);
                if (consumed < 0)
                {
                    return;
                }

                input.AdvanceTo(buffer.GetPosition(consumed), buffer.End);
                if (answered > 0 && (await output.FlushAsync()).IsCompleted)
                {
                    return;
                }

                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (ConnectionResetException)
        {
        }
        catch (ConnectionAbortedException)
        {
        }
    }

    /// <summary>Listens on loopback and runs <paramref name="serve"/> on the thread pool for each accepted socket.</summary>
    public static RunningServer StartSockets(int port, Func<Socket, Task> serve)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        listener.Listen(1024);
        var stopping = new CancellationTokenSource();
        var accepting = AcceptLoopAsync(listener, serve, stopping.Token);
        return new RunningServer(listener.LocalEndPoint!, async () =>
        {
            await stopping.CancelAsync();
            listener.Dispose();
            await accepting;
            stopping.Dispose();
        });
    }

    /// <summary>
    /// A bare socket's loop until the peer is done: one receive buffer (grown when a request fills it), each read's whole
    /// requests answered with one send, what is left moved to the front.
    /// </summary>
    public static async Task ServeSocketAsync(Socket socket, int bufferSize, SocketResponder responder)
    {
        var buffer = new byte[bufferSize];
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
                var consumed = responder(buffer.AsMemory(0, filled), out var reply);
                if (consumed < 0)
                {
                    return;
                }

                if (!reply.IsEmpty)
                {
                    await socket.SendAsync(reply, SocketFlags.None);
                }

                if (consumed > 0)
                {
                    buffer.AsSpan(consumed, filled - consumed).CopyTo(buffer);
                    filled -= consumed;
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

    private static async Task AcceptLoopAsync(Socket listener, Func<Socket, Task> serve, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var socket = await listener.AcceptAsync(cancellationToken);
                socket.NoDelay = true;
                _ = Task.Run(() => serve(socket), CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }
}
