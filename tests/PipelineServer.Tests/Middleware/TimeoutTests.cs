using System.IO.Pipelines;
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

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ClosesAPeerThatSendsButNeverReadsOnceAFlushHasWaitedForTheWriteTimeout(TransportKind transport)
    {
        var time = new FakeTimeProvider();
        using var blocks = new SemaphoreSlim(0);
        await using var host = await TestHost.StartAsync(transport, listen =>
        {
            listen.UseTimeouts(options =>
            {
                options.TimeProvider = time;
                options.WriteTimeout = s_timeout;
            });
            // Between the timeouts and the protocol: tells the test each time a server flush has to wait.
            listen.Use(next => connection =>
            {
                var transport = connection.Transport;
                connection.Transport = new Internal.DuplexPipe(transport.Input, new FlushProbe(transport.Output, blocks));
                return next(connection);
            });
            listen.UseEcho();
        });
        using var metrics = new MetricsRecorder(host.Services);
        await using var other = await host.ConnectAsync();
        await using var slow = await host.ConnectAsync();

        // The slow peer sends 64 KiB requests as fast as the server takes them and reads nothing back.
        using var stop = new CancellationTokenSource();
        var request = TestClient.Frame(new byte[64 * 1024]);
        var flood = Task.Run(async () =>
        {
            try
            {
                while (!(await slow.Output.WriteAsync(request, stop.Token)).IsCompleted)
                {
                }
            }
            catch (Exception)
            {
                // The server closed the connection (or the test ended): the flood is over.
            }
        });

        Assert.True(await blocks.WaitAsync(TestClient.Timeout));
        await AssertEchoesAsync(other, 1);

        // Just short of the timeout after the first wait began: still open.
        time.Advance(s_timeout - TimeSpan.FromSeconds(1));
        Assert.DoesNotContain(host.Logs.Records, IsTimedOut);

        // Past it. Kernel socket buffers grow while they fill, so an early wait can end and a later one begin after the
        // clock moved; then the heartbeat saw no waiting flush, and the clock moves again once the next wait begins.
        for (var attempt = 0; !host.Logs.Records.Any(IsTimedOut); attempt++)
        {
            Assert.True(attempt < 100, "The slow peer was never closed.");
            if (attempt > 0)
            {
                Assert.True(await blocks.WaitAsync(TestClient.Timeout));
            }

            while (blocks.Wait(0))
            {
            }

            time.Advance(s_timeout + TimeSpan.FromSeconds(1));
        }

        var log = host.Logs.Records.Single(IsTimedOut);
        Assert.Contains("write timeout", log.Message);
        await metrics.WaitForAsync("pipelineserver.closed_connections", 1, "write_timeout");
        _ = await slow.WaitForCloseAsync();
        await stop.CancelAsync();
        await flood.WaitAsync(TestClient.Timeout);

        // The other connection was never disturbed, and it is not closed by a flush that never waited.
        time.Advance(s_timeout * 2);
        await AssertEchoesAsync(other, 2);
        Assert.Single(host.Logs.Records, IsTimedOut);
    }

    private static bool IsTimedOut(LogRecord record) => record.EventId.Name == "ConnectionTimedOut";

    // Passes everything through; releases `blocks` each time a flush cannot complete at once.
    private sealed class FlushProbe(PipeWriter inner, SemaphoreSlim blocks) : PipeWriter
    {
        public override void Advance(int bytes) => inner.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            var flush = inner.FlushAsync(cancellationToken);
            if (!flush.IsCompleted)
            {
                blocks.Release();
            }

            return flush;
        }
    }
}
