using System.Net;
using EchoServer;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Tests.Infrastructure;
using static PipelineServer.Tests.Middleware.MiddlewareTestKit;

namespace PipelineServer.Tests.Middleware;

public class RateLimitTests
{
    private static Task<TestHost> StartAsync(TransportKind transport, Action<MessageRateLimitOptions> configure, IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>? handler = null) =>
        TestHost.StartAsync(transport, listen =>
        {
            listen.GiveMemoryConnectionsAnAddress(transport, IPAddress.Parse("192.0.2.20"));
            listen.UseMessageRateLimit(configure);
            listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler ?? new EchoHandler());
        });

    private static byte[] Frames(int count) => Enumerable.Range(0, count).SelectMany(static i => TestClient.Frame([(byte)i])).ToArray();

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task InCloseModeAnswersTheMessagesWithinTheLimitThenClosesTheConnection(TransportKind transport)
    {
        await using var host = await StartAsync(transport, o =>
        {
            o.PerConnection = 5;
            o.OnExceeded = RateLimitExceededAction.Close;
            o.TimeProvider = new FakeTimeProvider();
        });
        using var metrics = new MetricsRecorder(host.Services);
        await using var client = await host.ConnectAsync();
        await using var other = await host.ConnectAsync();

        await client.SendAsync(Frames(8));

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal([(byte)i], await client.ReceiveFrameAsync());
        }

        var (rest, _) = await client.WaitForCloseAsync();
        Assert.Empty(rest);
        await metrics.WaitForAsync("pipelineserver.closed_connections", 1, "rate_limit");
        Assert.Contains(host.Logs.Records, static r => r.EventId.Name == "RateLimitExceeded");
        await AssertEchoesAsync(other); // its own bucket
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task InBackpressureModeHoldsMessagesOverTheLimitUntilTheBucketRefills(TransportKind transport)
    {
        var time = new FakeTimeProvider();
        var handler = new ClockedEchoHandler(time);
        await using var host = await StartAsync(transport, o => { o.PerConnection = 2; o.TimeProvider = time; }, handler);
        await using var client = await host.ConnectAsync();

        await client.SendAsync(Frames(5));

        // Two answered at once (flushed before the connection is held), the rest one second of refill at a time.
        Assert.Equal([0], await client.ReceiveFrameAsync());
        Assert.Equal([1], await client.ReceiveFrameAsync());
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([2], await client.ReceiveFrameAsync());
        Assert.Equal([3], await client.ReceiveFrameAsync());
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([4], await client.ReceiveFrameAsync());

        Assert.Equal([0, 0, 1, 1, 2], handler.HandledAtSeconds);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ThePerIpLimitIsSharedByEveryConnectionFromTheAddress(TransportKind transport)
    {
        await using var host = await StartAsync(transport, o =>
        {
            o.PerIp = 3;
            o.OnExceeded = RateLimitExceededAction.Close;
            o.TimeProvider = new FakeTimeProvider();
        });
        await using var first = await host.ConnectAsync();
        await using var second = await host.ConnectAsync();

        await AssertEchoesAsync(first, 1);
        await AssertEchoesAsync(first, 2);
        await second.SendAsync(Frames(2));

        Assert.Equal([0], await second.ReceiveFrameAsync());
        var (rest, _) = await second.WaitForCloseAsync();
        Assert.Empty(rest);
    }

    private sealed class EchoHandler : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            session.Write(message);
            return default;
        }
    }

    private sealed class ClockedEchoHandler(FakeTimeProvider time) : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        private readonly DateTimeOffset _start = time.GetUtcNow();

        public List<int> HandledAtSeconds { get; } = [];

        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            HandledAtSeconds.Add((int)(time.GetUtcNow() - _start).TotalSeconds);
            session.Write(message);
            return default;
        }
    }
}
