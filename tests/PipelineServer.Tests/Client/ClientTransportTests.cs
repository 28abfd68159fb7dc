using System.Net;
using System.Net.Sockets;
using EchoServer;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer.Client;
using PipelineServer.Client.Transports.Sockets;
using PipelineServer.Testing;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Client;

public class ClientTransportTests
{
    private static CancellationToken Timeout => new CancellationTokenSource(TestClient.Timeout).Token;

    private static async Task AssertEchoAsync(ConnectionContext connection, byte[] payload)
    {
        await connection.Transport.Output.WriteAsync(TestClient.Frame(payload));
        var echoed = await connection.Transport.Input.ReceiveMessageAsync(EchoProtocol.CreateReader(), static f => f.ToArray(), Timeout);
        Assert.Equal(payload, echoed);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ConnectsAndCarriesFramesBothWays(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseEcho());
        await using var connection = await host.ClientFactory().ConnectAsync(host.EndPoint, Timeout);

        await AssertEchoAsync(connection, [1, 2, 3]);
        await AssertEchoAsync(connection, new byte[100_000]);
    }

    [Fact]
    public async Task ResolvesADnsEndPointAndTurnsOffNagleByDefault()
    {
        await using var host = await TestHost.StartAsync(TransportKind.Sockets, listen => listen.UseEcho());
        var port = ((IPEndPoint)host.EndPoint).Port;

        await using var connection = await new SocketConnectionFactory().ConnectAsync(new DnsEndPoint("localhost", port), Timeout);

        Assert.True(((SocketConnection)connection).Socket.NoDelay);
        await AssertEchoAsync(connection, [7]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task InlineSchedulingResumesAReaderOnTheReceiveLoopInsteadOfTheThreadPool(bool inline)
    {
        await using var host = await TestHost.StartAsync(TransportKind.Sockets, listen => listen.UseEcho());
        var factory = new ClientBuilder().UseSockets(new SocketConnectionOptions { UnsafePreferInlineScheduling = inline }).Build();
        await using var connection = await factory.ConnectAsync(host.EndPoint, Timeout);
        var input = connection.Transport.Input;

        // The continuation is registered before the request goes out: the echo can arrive while this thread is still in
        // WriteAsync, and an await made after that would complete here, on the test's own stack.
        var pending = input.ReadAsync(Timeout).AsTask();
        Assert.False(pending.IsCompleted);
        var resumedIn = pending.ContinueWith(static _ => Environment.StackTrace, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        await connection.Transport.Output.WriteAsync(TestClient.Frame([1, 2, 3]), Timeout);
        var result = await pending;

        // Inline, the reader resumes inside the connection's receive loop (its flush of the input pipe); otherwise the
        // thread pool runs it after the loop has moved on.
        var stack = await resumedIn;
        input.AdvanceTo(result.Buffer.Start);
        Assert.Equal(inline, stack.Contains("ReceiveLoopAsync", StringComparison.Ordinal));
        Assert.Equal([1, 2, 3], await input.ReceiveMessageAsync(EchoProtocol.CreateReader(), static f => f.ToArray(), Timeout));
        await AssertEchoAsync(connection, new byte[100_000]);
    }

    [Fact]
    public async Task ConnectsToAUnixDomainSocket()
    {
        var path = Path.Combine(Path.GetTempPath(), $"ps-client-{Guid.NewGuid():N}.sock");
        try
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.AddPipelineServer(server => server.Listen("unix:" + path, listen => listen.UseEcho()));
            using var host = builder.Build();
            await host.StartAsync();

            await using var connection = await new ClientBuilder().UseSockets().Build().ConnectAsync(new UnixDomainSocketEndPoint(path), Timeout);
            await AssertEchoAsync(connection, [4, 2]);
            await host.StopAsync();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task HonoursCancellationOnConnect()
    {
        await using var host = await TestHost.StartAsync(TransportKind.Sockets, listen => listen.UseEcho());
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await new SocketConnectionFactory().ConnectAsync(host.EndPoint, cancelled.Token));
    }

    [Fact]
    public async Task AConnectThatTakesTooLongFailsWithTimeout()
    {
        var factory = new ClientBuilder().UseTransport(new NeverConnects()).WithConnectTimeout(TimeSpan.FromMilliseconds(100)).Build();

        var ex = await Assert.ThrowsAsync<TimeoutException>(async () => await factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, 1)));

        Assert.Contains("timed out", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectsToAnIpv4MappedIpv6Address()
    {
        await using var host = await TestHost.StartAsync(TransportKind.Sockets, listen => listen.UseEcho());
        var mapped = new IPEndPoint(IPAddress.Loopback.MapToIPv6(), ((IPEndPoint)host.EndPoint).Port);

        await using var connection = await new SocketConnectionFactory().ConnectAsync(mapped, Timeout);

        await AssertEchoAsync(connection, [6]);
    }

    [Fact]
    public async Task ConnectionRefusedIsReportedAsASocketError()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var unused = (IPEndPoint)probe.LocalEndPoint!;
        probe.Dispose();

        var ex = await Assert.ThrowsAsync<SocketException>(async () => await new SocketConnectionFactory().ConnectAsync(unused, Timeout));

        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AbortReallyAbortsAndConnectionClosedFires(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseEcho());
        var connection = await host.ClientFactory().ConnectAsync(host.EndPoint, Timeout);
        await AssertEchoAsync(connection, [1]);
        var closed = Fired(connection.ConnectionClosed);
        var reason = new ConnectionAbortedException("test abort");

        connection.Abort(reason);

        await closed;
        var own = await Assert.ThrowsAnyAsync<Exception>(async () => await connection.Transport.Input.ReadAsync(Timeout));
        Assert.Same(reason, own);
        var logged = await host.Logs.WaitForEventAsync("ConnectionEndedAbruptly");
        Assert.Equal(LogLevel.Debug, logged.Level);
        await connection.DisposeAsync();
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ConnectionClosedFiresWhenTheServerCloses(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseEcho(maxFrameLength: 16));
        await using var connection = await host.ClientFactory().ConnectAsync(host.EndPoint, Timeout);
        var closed = Fired(connection.ConnectionClosed);

        // An oversize frame makes the server close the connection.
        await connection.Transport.Output.WriteAsync(TestClient.Frame(new byte[100]));

        await closed;
        Assert.Empty(await connection.Transport.Input.ReceiveToEndAsync(Timeout));
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task DisposingSendsWhatWasWrittenThenEndsTheStream(TransportKind transport)
    {
        var received = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(transport, listen => listen.Use(next => async server =>
        {
            var all = await server.Transport.Input.ReceiveToEndAsync(Timeout);
            received.TrySetResult(all.Length);
        }));
        var connection = await host.ClientFactory().ConnectAsync(host.EndPoint, Timeout);

        connection.Transport.Output.Write(new byte[300_000]);
        _ = connection.Transport.Output.FlushAsync();
        await connection.DisposeAsync();

        Assert.Equal(300_000, await received.Task.WaitAsync(TestClient.Timeout));
    }

    [Fact]
    public async Task MiddlewareWrapsTheConnectionAndUnwindsWhenItIsDisposed()
    {
        await using var host = await TestHost.StartAsync(TransportKind.Memory, listen => listen.UseEcho());
        var events = new List<string>();
        var factory = host.ClientFactory(builder => builder
            .Use(next => async connection =>
            {
                events.Add("outer in");
                connection.Items["tag"] = "set by middleware";
                await next(connection);
                events.Add("outer out");
            })
            .Use(next => async connection =>
            {
                events.Add("inner in");
                await next(connection);
                events.Add("inner out");
            }));

        var connection = await factory.ConnectAsync(host.EndPoint, Timeout);
        Assert.Equal("set by middleware", connection.Items["tag"]);
        await AssertEchoAsync(connection, [9]);
        Assert.Equal(["outer in", "inner in"], events);
        await connection.DisposeAsync();

        Assert.Equal(["outer in", "inner in", "inner out", "outer out"], events);
    }

    [Fact]
    public async Task AFailingMiddlewareFailsTheConnectAndClosesTheConnection()
    {
        await using var host = await TestHost.StartAsync(TransportKind.Memory, listen => listen.UseEcho());
        var factory = host.ClientFactory(builder => builder.Use(_ => _ => throw new InvalidOperationException("handshake failed")));

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await factory.ConnectAsync(host.EndPoint, Timeout));

        Assert.Equal("handshake failed", ex.Message);
    }

    private static Task Fired(CancellationToken token)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => fired.TrySetResult());
        return fired.Task.WaitAsync(TestClient.Timeout, CancellationToken.None);
    }

    private sealed class NeverConnects : IConnectionFactory
    {
        public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
        {
            await Task.Delay(System.Threading.Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }
    }
}
