using EchoServer;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Tests.Infrastructure;
using static PipelineServer.Tests.Middleware.MiddlewareTestKit;

namespace PipelineServer.Tests.Middleware;

// The clock is a FakeTimeProvider: time passes only when a test advances it, so nothing here waits on real time. Each
// test first brings the server to a known state through something the client can observe (an echo, a log event).
public class TimeoutTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    private static Task<TestHost> StartAsync(TransportKind transport, FakeTimeProvider time, Action<ConnectionTimeoutOptions> configure) =>
        TestHost.StartAsync(transport, listen =>
        {
            listen.UseTimeouts(options =>
            {
                options.TimeProvider = time;
                configure(options);
            });
            listen.UseLifecycleLogging(); // after the timeouts: its "opened" event means the connection is being watched
            listen.UseEcho();
        });

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ClosesAConnectionIdleForTheIdleTimeoutButNotOneThatKeepsTalking(TransportKind transport)
    {
        var time = new FakeTimeProvider();
        await using var host = await StartAsync(transport, time, o => o.IdleTimeout = s_timeout);
        using var metrics = new MetricsRecorder(host.Services);
        await using var client = await host.ConnectAsync();

        // Messages at 6 s intervals: never 10 s of silence. (The echo proves the server had finished with each one.)
        for (var i = 0; i < 3; i++)
        {
            await AssertEchoesAsync(client, (byte)i);
            time.Advance(TimeSpan.FromSeconds(6));
        }

        await AssertEchoesAsync(client, 9);
        time.Advance(s_timeout + TimeSpan.FromSeconds(3));

        await AssertClosedWithoutReplyAsync(client);
        var log = await host.Logs.WaitForEventAsync("ConnectionTimedOut");
        Assert.Contains("idle timeout", log.Message);
        await metrics.WaitForAsync("pipelineserver.closed_connections", 1, "idle_timeout");
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ClosesAConnectionThatSendsNoCompleteMessageInTime(TransportKind transport)
    {
        var time = new FakeTimeProvider();
        await using var host = await StartAsync(transport, time, o => o.FirstMessageTimeout = s_timeout);
        using var metrics = new MetricsRecorder(host.Services);
        await using var silent = await host.ConnectAsync();
        await host.Logs.WaitForEventAsync("ConnectionOpened");

        time.Advance(s_timeout + TimeSpan.FromSeconds(3));

        await AssertClosedWithoutReplyAsync(silent);
        await metrics.WaitForAsync("pipelineserver.closed_connections", 1, "first_message_timeout");

        // A connection that sends its first message in time stays open past the timeout.
        await using var prompt = await host.ConnectAsync();
        await AssertEchoesAsync(prompt, 1);
        time.Advance(s_timeout + TimeSpan.FromSeconds(3));
        await AssertEchoesAsync(prompt, 2);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ClosesAConnectionTricklingAMessageSlowerThanTheSlowMessageTimeout(TransportKind transport)
    {
        var time = new FakeTimeProvider();
        await using var host = await StartAsync(transport, time, o =>
        {
            o.IdleTimeout = TimeSpan.FromMinutes(5);
            o.SlowMessageTimeout = s_timeout;
        });
        using var metrics = new MetricsRecorder(host.Services);
        await using var client = await host.ConnectAsync();

        // A whole frame, then the start of a 100-byte one, in one write: the echo of the first proves the server has seen
        // the partial second one (it reads both before it flushes).
        var partial = TestClient.Frame(new byte[100]).AsSpan(0, 10).ToArray();
        await client.SendAsync(TestClient.Frame([1]).Concat(partial).ToArray());
        Assert.Equal([1], await client.ReceiveFrameAsync());

        // Trickling more bytes does not reset the clock: the message is still not complete.
        time.Advance(TimeSpan.FromSeconds(6));
        await client.SendAsync(new byte[5]);
        time.Advance(TimeSpan.FromSeconds(6));

        await AssertClosedWithoutReplyAsync(client);
        var log = await host.Logs.WaitForEventAsync("ConnectionTimedOut");
        Assert.Contains("slow-message timeout", log.Message);
        await metrics.WaitForAsync("pipelineserver.closed_connections", 1, "slow_message_timeout");
    }
}
