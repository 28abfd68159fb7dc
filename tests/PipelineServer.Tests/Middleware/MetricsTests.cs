using EchoServer;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Middleware;

public class MetricsTests
{
    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task CountsConnectionsMessagesAndBytesOnThePipelineServerMeter(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseEcho());
        using var metrics = new MetricsRecorder(host.Services);

        await using (var client = await host.ConnectAsync())
        {
            var wire = new List<byte>();
            for (var i = 0; i < 10; i++)
            {
                wire.AddRange(TestClient.Frame(new byte[i + 1]));
            }

            await client.SendAsync(wire.ToArray());
            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(i + 1, (await client.ReceiveFrameAsync()).Length);
            }

            await client.CompleteSendingAsync();
            await client.WaitForCloseAsync();
        }

        await metrics.WaitForAsync("pipelineserver.closed_connections", 1, "clean");
        Assert.Equal(1, metrics.Total("pipelineserver.opened_connections"));
        Assert.Equal(0, metrics.Total("pipelineserver.active_connections")); // +1, then -1
        Assert.Equal(10, metrics.Total("pipelineserver.received_messages"));
        Assert.Equal(10, metrics.Total("pipelineserver.sent_messages"));
        Assert.Equal((10 * 4) + 55, metrics.Total("pipelineserver.received_bytes"));
        Assert.Equal((10 * 4) + 55, metrics.Total("pipelineserver.sent_bytes"));
        Assert.Equal(10, metrics.Total("pipelineserver.handler.duration"));
        Assert.Equal(1, metrics.Total("pipelineserver.connection.duration", "clean"));
        Assert.Equal(0, metrics.Total("pipelineserver.protocol_errors"));
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task CountsProtocolErrorsAndTheCloseReason(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseEcho(maxFrameLength: 16));
        using var metrics = new MetricsRecorder(host.Services);
        await using var client = await host.ConnectAsync();

        await client.SendFrameAsync(new byte[17]);
        await client.WaitForCloseAsync();

        await metrics.WaitForAsync("pipelineserver.closed_connections", 1, "protocol_error");
        Assert.Equal(1, metrics.Total("pipelineserver.protocol_errors", "MessageTooLarge"));
        Assert.Equal(0, metrics.Total("pipelineserver.active_connections"));
    }
}
