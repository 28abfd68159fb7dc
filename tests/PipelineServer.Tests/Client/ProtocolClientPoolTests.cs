using System.Buffers.Binary;
using EchoServer;
using PipelineServer.Client;
using PipelineServer.Protocols;
using PipelineServer.Tests.Infrastructure;
using static PipelineServer.Tests.Client.ScriptedHandler;

namespace PipelineServer.Tests.Client;

public class ProtocolClientPoolTests
{
    private static readonly IMessageReader<byte[]> s_responses = EchoProtocol.CreateReader().Select(static frame => frame.ToArray());

    private static ReadOnlySequence<byte> Seq(byte[] bytes) => new(bytes);

    private static ValueTask<ProtocolClientPool<ReadOnlySequence<byte>, byte[]>> ConnectAsync(RestartableServer server, ProtocolClientPoolOptions<ReadOnlySequence<byte>, byte[]> options) =>
        ProtocolClientPool.ConnectAsync(server.ClientFactory(), server.EndPoint, s_responses, EchoProtocol.Writer, options);

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AServerKilledMidLoadFailsInFlightRequestsClearlyThenThePoolReconnectsAndCarriesOn(TransportKind transport)
    {
        var handler = new ScriptedHandler();
        await using var server = new RestartableServer(transport, handler);
        await server.StartAsync();
        await using var pool = await ConnectAsync(server, new()
        {
            Connections = 2,
            ReconnectBackoff = BackoffPolicy.Constant(TimeSpan.FromMilliseconds(20)),
            ConnectionWaitTimeout = TimeSpan.FromSeconds(15),
        });

        var successes = new SignalCounter();
        var mismatches = 0;
        var failures = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            var payload = new byte[16];
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                BinaryPrimitives.WriteInt32BigEndian(payload, worker);
                BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(4), i);
                try
                {
                    var response = await pool.RequestAsync(Seq(payload));
                    if (response.AsSpan().SequenceEqual(payload))
                    {
                        successes.Increment();
                    }
                    else
                    {
                        Interlocked.Increment(ref mismatches);
                    }
                }
                catch (Exception ex)
                {
                    failures.Add(ex);
                }
            }
        })).ToArray();

        await successes.WaitForAsync(2000);
        var held = pool.RequestAsync(Seq(Text("hold:k"))).AsTask();
        await handler.Arrived("k");

        await server.KillAsync();

        var ex = await Assert.ThrowsAsync<ConnectionClosedException>(() => held.WaitAsync(TestClient.Timeout));
        Assert.Contains("may or may not have been processed", ex.Message, StringComparison.Ordinal);
        var beforeRestart = successes.Value;
        await server.StartAsync();
        await successes.WaitForAsync(beforeRestart + 2000);
        await stop.CancelAsync();
        await Task.WhenAll(load).WaitAsync(TestClient.Timeout);

        Assert.Equal(0, mismatches);
        Assert.All(failures, static f => Assert.IsType<ConnectionClosedException>(f));
        Assert.True(pool.ConnectedCount >= 1);
    }

    [Fact]
    public async Task RoundRobinSpreadsRequestsEvenlyOverTheConnections()
    {
        await using var server = new RestartableServer(TransportKind.Memory, new ScriptedHandler());
        await server.StartAsync();
        await using var pool = await ConnectAsync(server, new() { Connections = 3 });

        for (var i = 0; i < 30; i++)
        {
            await pool.RequestAsync(Seq([(byte)i]));
        }

        Assert.Equal([10, 10, 10], server.MessagesPerConnection.Values.Order());
    }

    [Fact]
    public async Task LeastOutstandingAvoidsABusyConnection()
    {
        var handler = new ScriptedHandler();
        await using var server = new RestartableServer(TransportKind.Memory, handler);
        await server.StartAsync();
        await using var pool = await ConnectAsync(server, new() { Connections = 2, LoadBalancing = LoadBalancing.LeastOutstanding });

        var busy = pool.RequestAsync(Seq(Text("hold:busy")));
        await handler.Arrived("busy");
        for (var i = 0; i < 10; i++)
        {
            await pool.RequestAsync(Seq([(byte)i]));
        }

        Assert.Equal([1, 10], server.MessagesPerConnection.Values.Order());
        handler.Release("busy");
        await busy;
    }

    [Fact]
    public async Task WithNoConnectionUpARequestWaitsThenFailsWithTimeout()
    {
        await using var server = new RestartableServer(TransportKind.Memory, new ScriptedHandler());
        await server.StartAsync();
        await using var pool = await ConnectAsync(server, new()
        {
            ReconnectBackoff = BackoffPolicy.Constant(TimeSpan.FromMilliseconds(20)),
            ConnectionWaitTimeout = TimeSpan.FromMilliseconds(200),
        });
        await pool.RequestAsync(Seq([1]));

        await server.KillAsync();

        // A request that races the client noticing the reset fails as written-then-lost; once the loss is known,
        // requests wait for a connection and time out.
        for (var attempt = 0; attempt < 100; attempt++)
        {
            try
            {
                await pool.RequestAsync(Seq([2]));
                Assert.Fail("The server is gone; no request can succeed.");
            }
            catch (ConnectionClosedException)
            {
                continue;
            }
            catch (TimeoutException ex)
            {
                Assert.Contains("reconnecting continues", ex.Message, StringComparison.Ordinal);
                Assert.Equal(0, pool.ConnectedCount);
                return;
            }
        }

        Assert.Fail("Requests kept failing as if the connection were up.");
    }

    [Fact]
    public async Task TheInitialConnectFailsIfTheServerIsNotThere()
    {
        await using var server = new RestartableServer(TransportKind.Memory, new ScriptedHandler());
        await server.StartAsync();
        var endPoint = server.EndPoint;
        await server.KillAsync();

        await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(async () =>
            await ProtocolClientPool.ConnectAsync(server.ClientFactory(), endPoint, s_responses, EchoProtocol.Writer));
    }

    [Fact]
    public async Task ThePoolRefusesTheResponseTypesASingleClientRefusesWithTheSameError()
    {
        await AssertRefusedAlikeAsync(EchoProtocol.CreateReader());
        await AssertRefusedAlikeAsync(EchoProtocol.CreateReader().Select(static frame => frame.First));

        // Every way in refuses a reader whose responses are slices of the receive buffer, with one error, before connecting.
        static async Task AssertRefusedAlikeAsync<TResponse>(IMessageReader<TResponse> reader)
        {
            var factory = new CountingFactory();
            var endPoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1);

            var started = Assert.Throws<ArgumentException>(() => ProtocolClient.Start(new Microsoft.AspNetCore.Connections.DefaultConnectionContext(), reader, EchoProtocol.Writer));
            var connected = await Assert.ThrowsAsync<ArgumentException>(async () => await ProtocolClient.ConnectAsync(factory, endPoint, reader, EchoProtocol.Writer));
            var pooled = await Assert.ThrowsAsync<ArgumentException>(async () => await ProtocolClientPool.ConnectAsync(factory, endPoint, reader, EchoProtocol.Writer));

            Assert.Contains("Select", started.Message, StringComparison.Ordinal);
            Assert.Equal("reader", started.ParamName);
            Assert.Equal(started.Message, connected.Message);
            Assert.Equal(started.Message, pooled.Message);
            Assert.Equal(started.ParamName, pooled.ParamName);
            Assert.Equal(0, factory.Connects);
        }
    }

    [Fact]
    public void ExponentialBackoffDoublesUpToItsMaximumWithinTheJitter()
    {
        var policy = BackoffPolicy.Exponential(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), jitter: 0.2);

        for (var attempt = 0; attempt < 10; attempt++)
        {
            var expected = Math.Min(1000, 100 * Math.Pow(2, attempt));
            var delay = policy.GetDelay(attempt).TotalMilliseconds;
            Assert.InRange(delay, expected * 0.8 - 0.001, Math.Min(1000, expected * 1.2) + 0.001);
        }

        Assert.Equal(TimeSpan.FromMilliseconds(100), BackoffPolicy.Exponential(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), jitter: 0).GetDelay(0));
        Assert.Equal(TimeSpan.FromSeconds(1), BackoffPolicy.Exponential(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), jitter: 0).GetDelay(1000));
        Assert.Equal(TimeSpan.FromSeconds(3), BackoffPolicy.Constant(TimeSpan.FromSeconds(3)).GetDelay(7));
        Assert.Throws<ArgumentOutOfRangeException>(() => BackoffPolicy.Exponential(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1)));
    }

    // Counts connection attempts, and fails them: the tests using it expect none.
    private sealed class CountingFactory : Microsoft.AspNetCore.Connections.IConnectionFactory
    {
        private int _connects;

        public int Connects => Volatile.Read(ref _connects);

        public ValueTask<Microsoft.AspNetCore.Connections.ConnectionContext> ConnectAsync(System.Net.EndPoint endpoint, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _connects);
            return ValueTask.FromException<Microsoft.AspNetCore.Connections.ConnectionContext>(new InvalidOperationException("No connection was expected."));
        }
    }

    // A counter a test can wait on: the wait completes when the count reaches the target, no polling.
    private sealed class SignalCounter
    {
        private readonly Lock _sync = new();
        private int _value;
        private int _target = int.MaxValue;
        private TaskCompletionSource? _reached;

        public int Value => Volatile.Read(ref _value);

        public void Increment()
        {
            lock (_sync)
            {
                if (++_value >= _target)
                {
                    _reached?.TrySetResult();
                }
            }
        }

        public Task WaitForAsync(int target)
        {
            lock (_sync)
            {
                _target = target;
                _reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                if (_value >= target)
                {
                    _reached.TrySetResult();
                }

                return _reached.Task.WaitAsync(TestClient.Timeout);
            }
        }
    }
}
