using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Testing;
using PipelineServer.Tests.Infrastructure;
using PipelineServer.Transports.Memory;

namespace PipelineServer.Tests.Connections;

public class MemoryTransportTests
{
    private static CancellationToken Timeout => new CancellationTokenSource(TestClient.Timeout).Token;

    private static async Task<(MemoryTransport Transport, IConnectionListener Listener, ConnectionContext Client, ConnectionContext Server)> ConnectAsync(string name)
    {
        var transport = new MemoryTransport();
        var listener = await transport.BindAsync(new MemoryEndPoint(name));
        var client = await transport.ConnectAsync(new MemoryEndPoint(name));
        var server = (await listener.AcceptAsync(Timeout))!;
        return (transport, listener, client, server);
    }

    private static Task Fired(CancellationToken token)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => fired.TrySetResult());
        return fired.Task.WaitAsync(TestClient.Timeout, CancellationToken.None);
    }

    [Fact]
    public async Task ConnectingWhereNobodyListensIsRefused()
    {
        var transport = new MemoryTransport();

        var ex = await Assert.ThrowsAsync<SocketException>(async () => await transport.ConnectAsync(new MemoryEndPoint("nobody")));

        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
    }

    [Fact]
    public async Task BindingANameTwiceIsAnAddressInUse()
    {
        var transport = new MemoryTransport();
        await transport.BindAsync(new MemoryEndPoint("dup"));

        await Assert.ThrowsAsync<AddressInUseException>(async () => await transport.BindAsync(new MemoryEndPoint("dup")));
        Assert.False(transport.CanBind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1)));
    }

    [Fact]
    public async Task CarriesBytesBothWaysAndAHalfCloseLetsThePeerStillAnswer()
    {
        var (_, _, client, server) = await ConnectAsync("half");

        await client.Transport.Output.WriteAsync(new byte[] { 1, 2, 3 });
        await client.Transport.Output.CompleteAsync();

        Assert.Equal([1, 2, 3], await server.Transport.Input.ReceiveToEndAsync(Timeout));
        await server.Transport.Output.WriteAsync(new byte[] { 4 });
        Assert.Equal([4], await client.Transport.Input.ReceiveExactlyAsync(1, Timeout));
        await Fired(server.ConnectionClosed);
    }

    [Fact]
    public async Task AnAbortFailsTheAbortersReadsWithItsReasonAndResetsThePeer()
    {
        var (_, _, client, server) = await ConnectAsync("abort");
        var reason = new ConnectionAbortedException("test abort");

        client.Abort(reason);

        var own = await Assert.ThrowsAsync<ConnectionAbortedException>(async () => await client.Transport.Input.ReadAsync(Timeout));
        Assert.Same(reason, own);
        await Assert.ThrowsAsync<ConnectionResetException>(async () => await server.Transport.Input.ReadAsync(Timeout));
        await Fired(client.ConnectionClosed);
        await Fired(server.ConnectionClosed);
        var flush = await server.Transport.Output.WriteAsync(new byte[] { 1 });
        Assert.True(flush.IsCompleted);
    }

    [Fact]
    public async Task AppliesBackpressureToAWriterWhosePeerDoesNotRead()
    {
        var (_, _, client, server) = await ConnectAsync("backpressure");
        const int Total = 4 * 1024 * 1024;
        var writing = Task.Run(async () =>
        {
            var chunk = new byte[16 * 1024];
            for (var sent = 0; sent < Total; sent += chunk.Length)
            {
                await client.Transport.Output.WriteAsync(chunk);
            }
        });

        // Look without consuming until the server's 1 MiB inbound buffer is full.
        var input = server.Transport.Input;
        System.IO.Pipelines.ReadResult read;
        while (true)
        {
            read = await input.ReadAsync(Timeout);
            if (read.Buffer.Length >= 1024 * 1024)
            {
                break;
            }

            input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }

        // The writer is held back near the 1 MiB threshold instead of running ahead to all 4 MiB. (The threshold is
        // checked at each flush of the pump, so under a loaded scheduler the buffer was seen to overshoot it by up to
        // about 0.9 MiB; the bound stays well short of what an unbounded pipe would hold.)
        Assert.InRange(read.Buffer.Length, 1024 * 1024, 2 * 1024 * 1024);
        Assert.False(writing.IsCompleted);

        var total = read.Buffer.Length;
        input.AdvanceTo(read.Buffer.End);
        while (total < Total)
        {
            read = await input.ReadAsync(Timeout);
            total += read.Buffer.Length;
            input.AdvanceTo(read.Buffer.End);
        }

        await writing.WaitAsync(TestClient.Timeout);
        Assert.Equal(Total, total);
    }

    [Fact]
    public async Task UnbindingStopsAcceptingAndRefusesNewConnections()
    {
        var transport = new MemoryTransport();
        var listener = await transport.BindAsync(new MemoryEndPoint("unbind"));
        var accepting = listener.AcceptAsync(Timeout);

        await listener.UnbindAsync();

        Assert.Null(await accepting);
        await Assert.ThrowsAsync<SocketException>(async () => await transport.ConnectAsync(new MemoryEndPoint("unbind")));
        await transport.BindAsync(new MemoryEndPoint("unbind"));
    }

    [Fact]
    public async Task DisposingOneEndGivesThePeerAnEndOfStreamAndFailsItsLaterWrites()
    {
        var (_, _, client, server) = await ConnectAsync("dispose");
        await server.Transport.Output.WriteAsync(new byte[] { 9 });

        await server.DisposeAsync();

        Assert.Equal([9], await client.Transport.Input.ReceiveToEndAsync(Timeout));
        await Fired(client.ConnectionClosed);
        // Writes are discarded and soon reported as going nowhere; they never block on the departed peer.
        var completed = false;
        for (var i = 0; i < 1000 && !completed; i++)
        {
            completed = (await client.Transport.Output.WriteAsync(new byte[64 * 1024]).AsTask().WaitAsync(TestClient.Timeout)).IsCompleted;
        }

        Assert.True(completed);
    }
}
