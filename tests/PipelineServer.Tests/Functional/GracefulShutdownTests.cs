using System.IO.Pipelines;
using System.Net.Sockets;
using EchoServer;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Functional;

public class GracefulShutdownTests
{
    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task HostShutdownAnswersEveryFrameAlreadyReceivedThenClosesAndRefusesNewConnections(TransportKind transport)
    {
        const int Frames = 200;
        var payloads = Enumerable.Range(0, Frames).Select(static i => BitConverter.GetBytes((long)i)).ToArray();
        var wire = payloads.SelectMany(static p => TestClient.Frame(p)).ToArray();
        var handler = new GatedEchoHandler();
        var received = new ByteCounter(wire.Length);

        await using var host = await TestHost.StartAsync(transport, listen =>
        {
            listen.Use(received.Middleware);
            listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler);
        });
        await using var client = await host.ConnectAsync();

        await client.SendAsync(wire);
        // The handler is stuck on the first frame while every byte of the other 199 has reached the server.
        await handler.FirstMessage.WaitAsync(TestClient.Timeout);
        await received.AllReceived.WaitAsync(TestClient.Timeout);

        var stopping = host.StopAsync();
        await handler.CloseRequested.WaitAsync(TestClient.Timeout);
        await Assert.ThrowsAsync<SocketException>(async () => await host.ConnectAsync());
        handler.Release();

        foreach (var payload in payloads)
        {
            Assert.Equal(payload, await client.ReceiveFrameAsync());
        }

        var (rest, error) = await client.WaitForCloseAsync();
        Assert.Null(error);
        Assert.Empty(rest);
        await stopping.WaitAsync(TestClient.Timeout);
        Assert.Equal(Frames, handler.Handled);
        Assert.Contains(host.Logs.Records, static r => r.EventId.Name == "ConnectionDrained");
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ShutdownThroughTheMiddlewareChainAnswersEveryRequestEveryConnectionHadSent(TransportKind transport)
    {
        const int Connections = 4;
        const int Frames = 100;
        var wire = Enumerable.Range(0, Frames).SelectMany(static i => TestClient.Frame(BitConverter.GetBytes(i))).ToArray();
        var handler = new GatedEchoHandler(perConnection: true);
        var received = new ByteCounter(Connections * wire.Length);

        await using var host = await TestHost.StartAsync(transport, listen =>
        {
            listen.Use(received.Middleware);
            listen.UseLifecycleLogging();
            listen.UseTimeouts(t => { t.IdleTimeout = TimeSpan.FromMinutes(5); t.SlowMessageTimeout = TimeSpan.FromMinutes(1); });
            listen.UseMessageRateLimit(r => r.PerConnection = 1_000_000);
            listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler);
        });
        var clients = new List<TestClient>();
        for (var i = 0; i < Connections; i++)
        {
            clients.Add(await host.ConnectAsync());
            await clients[i].SendAsync(wire);
        }

        // Every connection's handler is held on its first request while all its other requests have arrived.
        await received.AllReceived.WaitAsync(TestClient.Timeout);
        var stopping = host.StopAsync();
        await handler.CloseRequested.WaitAsync(TestClient.Timeout);
        handler.Release();

        foreach (var client in clients)
        {
            for (var i = 0; i < Frames; i++)
            {
                Assert.Equal(BitConverter.GetBytes(i), await client.ReceiveFrameAsync());
            }

            var (rest, error) = await client.WaitForCloseAsync();
            Assert.Null(error);
            Assert.Empty(rest);
            await client.DisposeAsync();
        }

        await stopping.WaitAsync(TestClient.Timeout);
        Assert.Equal(Connections * Frames, handler.Handled);
        Assert.Equal(Connections, host.Logs.Records.Count(static r => r.EventId.Name == "ConnectionClosed" && r.Message.Contains("(shutdown)", StringComparison.Ordinal)));
        Assert.Empty(host.Errors);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AHandlerThatNeverFinishesIsAbortedWhenTheShutdownTimeoutRunsOut(TransportKind transport)
    {
        var handler = new StuckHandler();
        await using var host = await TestHost.StartAsync(
            transport,
            listen => listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler),
            shutdownTimeout: TimeSpan.FromSeconds(1));
        await using var client = await host.ConnectAsync();
        await client.SendFrameAsync(new byte[] { 1 });
        await handler.Started.WaitAsync(TestClient.Timeout);

        await host.StopAsync().WaitAsync(TestClient.Timeout);

        // Kestrel aborted the connection; the handler saw it through session.ConnectionClosed, and the client sees the end.
        await handler.Cancelled.WaitAsync(TestClient.Timeout);
        var (received, _) = await client.WaitForCloseAsync();
        Assert.Empty(received);
        Assert.Empty(host.Errors);
    }

    private sealed class StuckHandler : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _cancelled = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Started => _started.Task;

        public Task Cancelled => _cancelled.Task;

        public async ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            _started.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, session.ConnectionClosed);
            }
            finally
            {
                _cancelled.TrySetResult();
            }
        }
    }

    private sealed class GatedEchoHandler(bool perConnection = false) : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _closeRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _handled;

        public Task FirstMessage => _first.Task;

        public Task CloseRequested => _closeRequested.Task;

        public int Handled => Volatile.Read(ref _handled);

        public void Release() => _gate.TrySetResult();

        public async ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            var first = perConnection ? session.State is null : Interlocked.Increment(ref _handled) == 1;
            if (perConnection)
            {
                session.State = true;
                Interlocked.Increment(ref _handled);
            }

            if (first)
            {
                var lifetime = session.Connection.Features.Get<IConnectionLifetimeNotificationFeature>()!;
                lifetime.ConnectionClosedRequested.Register(() => _closeRequested.TrySetResult());
                _first.TrySetResult();
                await _gate.Task;
            }

            session.Write(message);
        }
    }

    /// <summary>Connection middleware that moves inbound bytes into the application's pipe and says when all expected bytes arrived.</summary>
    private sealed class ByteCounter(int expected)
    {
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _count;

        public Task AllReceived => _all.Task;

        public ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
        {
            var transport = connection.Transport;
            var pipe = new Pipe();
            var pumping = PumpAsync(transport.Input, pipe.Writer);
            connection.Transport = new Duplex(pipe.Reader, transport.Output);
            try
            {
                await next(connection);
            }
            finally
            {
                transport.Input.CancelPendingRead();
                await pumping;
            }
        };

        private async Task PumpAsync(PipeReader source, PipeWriter target)
        {
            try
            {
                while (true)
                {
                    var result = await source.ReadAsync();
                    if (result.IsCanceled)
                    {
                        break;
                    }

                    foreach (var segment in result.Buffer)
                    {
                        await target.WriteAsync(segment);
                    }

                    if (Interlocked.Add(ref _count, result.Buffer.Length) >= expected)
                    {
                        _all.TrySetResult();
                    }

                    source.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }
                }

                await target.CompleteAsync();
                await source.CompleteAsync();
            }
            catch (Exception ex)
            {
                await target.CompleteAsync(ex);
                await source.CompleteAsync();
            }
        }

        private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
        {
            public PipeReader Input { get; } = input;

            public PipeWriter Output { get; } = output;
        }
    }
}
