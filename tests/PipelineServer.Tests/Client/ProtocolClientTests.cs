using System.Buffers.Binary;
using EchoServer;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Client;
using PipelineServer.Protocols;
using PipelineServer.Tests.Infrastructure;
using static PipelineServer.Tests.Client.ScriptedHandler;

namespace PipelineServer.Tests.Client;

public class ProtocolClientTests
{
    private static readonly IMessageReader<byte[]> s_responses = EchoProtocol.CreateReader(int.MaxValue).Select(static frame => frame.ToArray());

    private static Task<TestHost> StartAsync(TransportKind transport, ScriptedHandler handler) =>
        TestHost.StartAsync(transport, listen => listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler));

    private static async Task<ProtocolClient<ReadOnlySequence<byte>, byte[]>> ConnectAsync(TestHost host, ProtocolClientOptions<ReadOnlySequence<byte>, byte[]>? options = null) =>
        await ProtocolClient.ConnectAsync(host.ClientFactory(), host.EndPoint, s_responses, EchoProtocol.Writer, options);

    private static ReadOnlySequence<byte> Seq(byte[] bytes) => new(bytes);

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ThirtyTwoCallersPipelining100kRequestsEachGetTheirOwnResponse(TransportKind transport)
    {
        const int Callers = 32;
        const int PerCaller = 100_000 / Callers;
        await using var host = await StartAsync(transport, new ScriptedHandler());
        await using var client = await ConnectAsync(host);

        var callers = Enumerable.Range(0, Callers).Select(caller => Task.Run(async () =>
        {
            var random = new Random(caller);
            var payload = new byte[24];
            for (var i = 0; i < PerCaller; i++)
            {
                // Unique content: caller, sequence number, then random bytes.
                BinaryPrimitives.WriteInt32BigEndian(payload, caller);
                BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(4), i);
                random.NextBytes(payload.AsSpan(8));
                var response = await client.RequestAsync(Seq(payload));
                Assert.Equal(payload, response);
            }
        })).ToArray();

        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(0, client.PendingRequests);
        Assert.Empty(host.Errors);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ACancelledRequestKeepsItsPlaceAndItsLateResponseIsDropped(TransportKind transport)
    {
        var handler = new ScriptedHandler();
        await using var host = await StartAsync(transport, handler);
        await using var client = await ConnectAsync(host);
        using var cancel = new CancellationTokenSource();

        var slow = client.RequestAsync(Seq(Text("hold:slow")), cancel.Token);
        await handler.Arrived("slow");
        var next = client.RequestAsync(Seq(Text("next")));
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await slow);
        handler.Release("slow");
        Assert.Equal(Text("next"), await next.AsTask().WaitAsync(TestClient.Timeout));
        Assert.Equal(Text("after"), await client.RequestAsync(Seq(Text("after"))).AsTask().WaitAsync(TestClient.Timeout));
        Assert.True(client.IsConnected);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ATimedOutRequestFailsWithTimeoutAndTheConnectionStaysInStep(TransportKind transport)
    {
        var handler = new ScriptedHandler();
        var time = new FakeTimeProvider();
        await using var host = await StartAsync(transport, handler);
        await using var client = await ConnectAsync(host, new() { RequestTimeout = TimeSpan.FromSeconds(5), TimeProvider = time });

        var slow = client.RequestAsync(Seq(Text("hold:t")));
        await handler.Arrived("t");
        time.Advance(TimeSpan.FromSeconds(6));

        var ex = await Assert.ThrowsAsync<TimeoutException>(async () => await slow.AsTask().WaitAsync(TestClient.Timeout));
        Assert.Contains("stays usable", ex.Message, StringComparison.Ordinal);
        var next = client.RequestAsync(Seq(Text("next")));
        handler.Release("t");
        Assert.Equal(Text("next"), await next.AsTask().WaitAsync(TestClient.Timeout));
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task LosingTheConnectionFailsEveryInFlightRequestClearly(TransportKind transport)
    {
        var handler = new ScriptedHandler();
        await using var host = await StartAsync(transport, handler);
        var client = await ConnectAsync(host);
        var inFlight = Enumerable.Range(0, 10).Select(i => client.RequestAsync(Seq(Text($"hold:{i}"))).AsTask()).ToArray();
        // The server is holding the first; all ten are written and unanswered.
        await handler.Arrived("0");

        client.Connection.Abort();

        foreach (var request in inFlight)
        {
            var ex = await Assert.ThrowsAsync<ConnectionClosedException>(async () => await request.WaitAsync(TestClient.Timeout));
            Assert.Contains("may or may not have been processed", ex.Message, StringComparison.Ordinal);
        }

        await client.Completion.WaitAsync(TestClient.Timeout);
        Assert.False(client.IsConnected);
        await Assert.ThrowsAsync<ConnectionClosedException>(async () => await client.RequestAsync(Seq(Text("late"))));
        await client.DisposeAsync();
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task PushedMessagesArriveOnTheirOwnStreamBetweenResponses(TransportKind transport)
    {
        await using var host = await StartAsync(transport, new ScriptedHandler());
        await using var client = await ConnectAsync(host, new() { IsPush = static m => m.Length > 0 && m[0] == PushMarker });

        Assert.Equal(Text("push:one"), await client.RequestAsync(Seq(Text("push:one"))));
        Assert.Equal(Text("push:two"), await client.RequestAsync(Seq(Text("push:two"))));

        var pushes = new List<byte[]>();
        await foreach (var push in client.ReadPushesAsync())
        {
            pushes.Add(push);
            if (pushes.Count == 2)
            {
                break;
            }
        }

        Assert.Equal([[PushMarker, .. Text("one")], [PushMarker, .. Text("two")]], pushes);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AResponseNobodyAskedForClosesTheConnectionInsteadOfMismatchingAnswers(TransportKind transport)
    {
        await using var host = await StartAsync(transport, new ScriptedHandler());
        await using var client = await ConnectAsync(host);

        Assert.Equal(Text("extra"), await client.RequestAsync(Seq(Text("extra"))));

        await client.Completion.WaitAsync(TestClient.Timeout);
        var reason = Assert.IsType<ProtocolException>(client.CloseReason);
        Assert.Contains("out of step", reason.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task OneWaySendsReachTheServer(TransportKind transport)
    {
        var handler = new ScriptedHandler();
        await using var host = await StartAsync(transport, handler);
        await using var client = await ConnectAsync(host);

        await client.SendAsync(Seq(Text("one-way")));

        Assert.Equal(1, await handler.ReceivedAtLeast(1));
    }

    [Fact]
    public async Task WithInlineContinuationsRequestsMadeInResponseToABatchLeaveInOneFlush()
    {
        const int Batch = 8;
        var handler = new BatchingEchoHandler(Batch);
        await using var host = await TestHost.StartAsync(TransportKind.Memory, listen => listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler));
        var flushes = 0;
        var factory = host.ClientFactory(builder => builder.Use(next => connection =>
        {
            connection.Transport = new FlushCountingPipe(connection.Transport, () => Interlocked.Increment(ref flushes));
            return next(connection);
        }));
        await using var client = await ProtocolClient.ConnectAsync(factory, host.EndPoint, s_responses, EchoProtocol.Writer, new() { RunContinuationsAsynchronously = false });

        // Eight first requests (a flush each); the server holds its answers until every chain awaits its first response,
        // then answers all eight at once, and each chain's second request is made from its continuation, on the client's
        // read loop. (The chains run without a synchronization context, which continuations would otherwise be posted to.)
        var firsts = Enumerable.Range(0, Batch).Select(i => client.RequestAsync(Seq([(byte)i, 1])).AsTask()).ToArray();
        var chains = await Task.Run(() => firsts.Select((first, i) => ChainAsync(first, i)).ToArray());
        handler.Release();
        var results = await Task.WhenAll(chains).WaitAsync(TestClient.Timeout);

        for (var i = 0; i < Batch; i++)
        {
            Assert.Equal([(byte)i, 1], results[i].First);
            Assert.Equal([(byte)i, 2], results[i].Second);
        }

        async Task<(byte[] First, byte[] Second)> ChainAsync(Task<byte[]> first, int i)
        {
            var response = await first;
            return (response, await client.RequestAsync(Seq([(byte)i, 2])));
        }

        Assert.Equal(Batch + 1, Volatile.Read(ref flushes));
    }

    [Fact]
    public async Task AContinuationOfAnExpiredRequestCanSendAgainOnTheSameClient()
    {
        var handler = new ScriptedHandler();
        var time = new FakeTimeProvider();
        await using var host = await StartAsync(TransportKind.Memory, handler);
        await using var client = await ConnectAsync(host, new() { RequestTimeout = TimeSpan.FromSeconds(5), TimeProvider = time, RunContinuationsAsynchronously = false });

        // Three requests expire together; the first one's continuation runs inline on the expiry timer and sends again
        // while the others are still to be failed. (The chain starts without a synchronization context, which the
        // continuation would otherwise be posted to.)
        var first = client.RequestAsync(Seq(Text("hold:first")));
        var second = client.RequestAsync(Seq(Text("second")));
        var third = client.RequestAsync(Seq(Text("third")));
        Task<byte[]> retry = null!;
        await Task.Run(() => { retry = RetryAfterTimeoutAsync(first); });
        await handler.Arrived("first");

        time.Advance(TimeSpan.FromSeconds(6));

        await Assert.ThrowsAsync<TimeoutException>(async () => await second.AsTask().WaitAsync(TestClient.Timeout));
        await Assert.ThrowsAsync<TimeoutException>(async () => await third.AsTask().WaitAsync(TestClient.Timeout));
        handler.Release("first");
        // The late answers to the expired three are dropped in order; the retry gets its own.
        Assert.Equal(Text("again"), await retry.WaitAsync(TestClient.Timeout));
        Assert.Equal(0, client.PendingRequests);
        Assert.True(client.IsConnected);

        async Task<byte[]> RetryAfterTimeoutAsync(ValueTask<byte[]> expiring)
        {
            try
            {
                return await expiring;
            }
            catch (TimeoutException)
            {
                return await client.RequestAsync(Seq(Text("again")));
            }
        }
    }

    [Fact]
    public async Task RefusesResponsesThatAreSlicesOfTheReceiveBuffer()
    {
        await using var host = await TestHost.StartAsync(TransportKind.Memory, listen => listen.UseEcho());
        await using var connection = await host.ClientFactory().ConnectAsync(host.EndPoint);

        var ex = Assert.Throws<ArgumentException>(() => ProtocolClient.Start(connection, EchoProtocol.CreateReader(), EchoProtocol.Writer));

        Assert.Contains("Select", ex.Message, StringComparison.Ordinal);
    }

    // Answers nothing until it holds `batch` requests, then answers them all, in order, in one write.
    private sealed class BatchingEchoHandler(int batch) : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        // The first full batch is answered only once released; later ones at once.
        public void Release() => _release.TrySetResult();

        public ValueTask OnConnectedAsync(ProtocolSession<ReadOnlySequence<byte>> session)
        {
            session.State = new List<byte[]>();
            return default;
        }

        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            var held = (List<byte[]>)session.State!;
            held.Add(message.ToArray());
            return held.Count == batch ? AnswerAsync(session, held) : default;
        }

        private async ValueTask AnswerAsync(ProtocolSession<ReadOnlySequence<byte>> session, List<byte[]> held)
        {
            await _release.Task.WaitAsync(TestClient.Timeout);
            foreach (var reply in held)
            {
                session.Write(new ReadOnlySequence<byte>(reply));
            }

            held.Clear();
        }
    }

    private sealed class FlushCountingPipe(System.IO.Pipelines.IDuplexPipe inner, Action onFlush) : System.IO.Pipelines.IDuplexPipe
    {
        public System.IO.Pipelines.PipeReader Input => inner.Input;

        public System.IO.Pipelines.PipeWriter Output { get; } = new Writer(inner.Output, onFlush);

        private sealed class Writer(System.IO.Pipelines.PipeWriter inner, Action onFlush) : System.IO.Pipelines.PipeWriter
        {
            public override void Advance(int bytes) => inner.Advance(bytes);

            public override void CancelPendingFlush() => inner.CancelPendingFlush();

            public override void Complete(Exception? exception = null) => inner.Complete(exception);

            public override ValueTask<System.IO.Pipelines.FlushResult> FlushAsync(CancellationToken cancellationToken = default)
            {
                onFlush();
                return inner.FlushAsync(cancellationToken);
            }

            public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

            public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
        }
    }
}
