using System.Net;
using System.Text;
using EchoServer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Testing;
using PipelineServer.Tests.Infrastructure;
using static PipelineServer.Tests.Middleware.MiddlewareTestKit;

namespace PipelineServer.Tests.Middleware;

// The built-in middleware take their clock from the application services when their options name none, so the test
// kit's clock (and a host's registered TimeProvider) drives them. Each timeout here is an hour: on the system clock the
// test could not pass.
public class ClockFromServicesTests
{
    private static readonly TimeSpan s_hour = TimeSpan.FromHours(1);

    [Fact]
    public async Task TimeoutsRunOnTheEmbeddedServersClock()
    {
        var time = new FakeTimeProvider();
        await using var server = new EmbeddedServer(
            b => b.UseTimeouts(options => options.IdleTimeout = s_hour).UseEcho(),
            new EmbeddedServerOptions { TimeProvider = time });
        await using var connection = await server.ConnectAsync();

        time.Advance(s_hour + TimeSpan.FromSeconds(1));

        await connection.Completion.WaitAsync(TestClient.Timeout);
        Assert.Equal("idle_timeout", connection.ServerConnection.Features.Get<PipelineServer.Diagnostics.ConnectionCloseReason>()?.Reason);
    }

    [Fact]
    public async Task RateLimitBucketsRefillOnTheEmbeddedServersClock()
    {
        var time = new FakeTimeProvider();
        await using var server = new EmbeddedServer(
            b => b.UseMessageRateLimit(options =>
            {
                options.PerConnection = 1;
                options.OnExceeded = RateLimitExceededAction.Close;
            }).UseEcho(),
            new EmbeddedServerOptions { TimeProvider = time });
        await using var connection = await server.ConnectAsync();
        await connection.SendAsync(TestClient.Frame([1]));
        Assert.Equal(TestClient.Frame([1]), await connection.ReceiveExactlyAsync(5));

        // The bucket is empty; only the fake clock's second refills it before the next message.
        time.Advance(TimeSpan.FromSeconds(1));

        await connection.SendAsync(TestClient.Frame([2]));
        Assert.Equal(TestClient.Frame([2]), await connection.ReceiveExactlyAsync(5));
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ThePROXYHeaderTimeoutRunsOnTheHostsRegisteredClock(TransportKind transport)
    {
        var time = new FakeTimeProvider();
        var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            transport,
            listen =>
            {
                listen.GiveMemoryConnectionsAnAddress(transport, IPAddress.Loopback);
                listen.Use(next => connection =>
                {
                    // Signals once the PROXY middleware has run to its first wait, its timer set.
                    var running = next(connection);
                    waiting.TrySetResult();
                    return running;
                });
                listen.UseProxyProtocol(options =>
                {
                    options.Mode = ProxyProtocolMode.Required;
                    options.TrustedNetworks.Add(IPNetwork.Parse("127.0.0.0/8"));
                    options.HeaderTimeout = s_hour;
                });
                listen.UseEcho();
            },
            configureHost: builder => builder.Services.AddSingleton<TimeProvider>(time));
        await using var client = await host.ConnectAsync();
        await client.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 198.51"));
        await waiting.Task.WaitAsync(TestClient.Timeout);

        time.Advance(s_hour + TimeSpan.FromSeconds(1));

        await AssertClosedWithoutReplyAsync(client);
        var log = await host.Logs.WaitForEventAsync("ProxyHeaderRejected");
        Assert.Contains("no complete header", log.Message);
    }
}
