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
    public async Task RefusesResponsesThatAreSlicesOfTheReceiveBuffer()
    {
        await using var host = await TestHost.StartAsync(TransportKind.Memory, listen => listen.UseEcho());
        await using var connection = await host.ClientFactory().ConnectAsync(host.EndPoint);

        var ex = Assert.Throws<ArgumentException>(() => ProtocolClient.Start(connection, EchoProtocol.CreateReader(), EchoProtocol.Writer));

        Assert.Contains("Select", ex.Message, StringComparison.Ordinal);
    }
}
