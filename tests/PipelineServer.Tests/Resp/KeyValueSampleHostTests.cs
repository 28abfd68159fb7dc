using System.Net;
using KeyValueServer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer.Hosting;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Resp;

/// <summary>The key-value sample as shipped: its host, built from its command line, with its default limits.</summary>
public class KeyValueSampleHostTests
{
    private static async Task<(IHost Host, TestLoggerProvider Logs, EndPoint EndPoint)> StartAsync(params string[] settings)
    {
        var logs = new TestLoggerProvider();
        var host = KeyValueHost.Create(["--Url", "tcp://127.0.0.1:0", .. settings], b => b.Logging.AddProvider(logs));
        using var cts = new CancellationTokenSource(TestClient.Timeout);
        await host.StartAsync(cts.Token);
        return (host, logs, host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!);
    }

    [Fact]
    public async Task ShipsWithTheRecommendedLimitsOn()
    {
        var (host, logs, _) = await StartAsync();
        using (host)
        {
            var limits = await logs.WaitForEventAsync("Limits");
            Assert.Equal(
                "Limits: per-IP connections 100, first-message timeout 00:00:10, idle timeout 00:05:00, slow-message timeout 00:00:30, write timeout 00:00:30.",
                limits.Message);
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task AClientOverThePerIpLimitReadsMaxNumberOfClientsReachedThenTheEnd()
    {
        var (host, _, endPoint) = await StartAsync("--MaxConnectionsPerIp", "1");
        using (host)
        {
            await using var first = await TestClient.ConnectAsync(endPoint);
            await first.SendAsync("PING\r\n"u8.ToArray());
            Assert.Equal("+PONG\r\n"u8.ToArray(), await first.ReceiveExactlyAsync(7));

            // As redis-server does at maxclients: the error, then the close.
            await using var second = await TestClient.ConnectAsync(endPoint);
            var (received, error) = await second.WaitForCloseAsync();
            Assert.Null(error);
            Assert.Equal("-ERR max number of clients reached\r\n"u8.ToArray(), received);

            await first.SendAsync("PING\r\n"u8.ToArray());
            Assert.Equal("+PONG\r\n"u8.ToArray(), await first.ReceiveExactlyAsync(7));
            await host.StopAsync();
        }
    }
}
