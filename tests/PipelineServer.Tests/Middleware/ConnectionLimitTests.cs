using System.Net;
using EchoServer;
using Microsoft.Extensions.DependencyInjection;
using PipelineServer.Tests.Infrastructure;
using static PipelineServer.Tests.Middleware.MiddlewareTestKit;

namespace PipelineServer.Tests.Middleware;

public class ConnectionLimitTests
{
    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ClosesConnectionsOverThePerIpLimitAtOnceAndAdmitsNewOnesWhenOthersLeave(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen =>
        {
            listen.UseLifecycleLogging(); // outermost: its "closed" event comes after the limit has counted the connection out
            listen.GiveMemoryConnectionsAnAddress(transport, IPAddress.Parse("192.0.2.10"));
            listen.UseConnectionLimitPerIp(2);
            listen.UseEcho();
        });
        using var metrics = new MetricsRecorder(host.Services);

        await using var first = await host.ConnectAsync();
        await AssertEchoesAsync(first, 1);
        var second = await host.ConnectAsync();
        await AssertEchoesAsync(second, 2);

        await using (var third = await host.ConnectAsync())
        {
            await AssertClosedWithoutReplyAsync(third);
        }

        Assert.Equal(1, metrics.Total("pipelineserver.rejected_connections", "ip_limit"));
        Assert.Contains(host.Logs.Records, static r => r.EventId.Name == "PerIpLimitReached");

        // The two admitted connections are undisturbed; once one leaves, a new one is admitted.
        await AssertEchoesAsync(first, 3);
        await second.CompleteSendingAsync();
        await second.WaitForCloseAsync();
        await second.DisposeAsync();
        await host.Logs.WaitForAsync(static r => r.EventId.Name == "ConnectionClosed" && r.Message.Contains("(clean)", StringComparison.Ordinal));
        Assert.Contains(host.Logs.Records, static r => r.EventId.Name == "ConnectionClosed" && r.Message.Contains("(ip_limit)", StringComparison.Ordinal));

        await using var fourth = await host.ConnectAsync();
        await AssertEchoesAsync(fourth, 4);
        Assert.Equal(1, metrics.Total("pipelineserver.rejected_connections"));
    }

    [Fact]
    public async Task KestrelsGlobalLimitRejectsConnectionsBeyondIt()
    {
        await using var host = await TestHost.StartAsync(
            TransportKind.Sockets,
            listen => listen.UseEcho(),
            configureHost: builder => builder.Services.Configure<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>(k => k.Limits.MaxConcurrentConnections = 1));

        await using var first = await host.ConnectAsync();
        await AssertEchoesAsync(first);
        await using var second = await host.ConnectAsync();
        await AssertClosedWithoutReplyAsync(second);
        await AssertEchoesAsync(first);
    }
}
