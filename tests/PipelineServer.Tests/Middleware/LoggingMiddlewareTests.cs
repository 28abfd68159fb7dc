using EchoServer;
using Microsoft.Extensions.Logging;
using PipelineServer.Tests.Infrastructure;
using static PipelineServer.Tests.Middleware.MiddlewareTestKit;

namespace PipelineServer.Tests.Middleware;

public class LoggingMiddlewareTests
{
    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task LogsEachConnectionsStartAndEndWithItsReason(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen =>
        {
            listen.UseLifecycleLogging();
            listen.UseEcho(maxFrameLength: 8);
        });
        await using var client = await host.ConnectAsync();
        await AssertEchoesAsync(client);
        await client.SendFrameAsync(new byte[9]);
        await client.WaitForCloseAsync();

        var opened = await host.Logs.WaitForEventAsync("ConnectionOpened");
        var closed = await host.Logs.WaitForEventAsync("ConnectionClosed");
        Assert.Equal(LogLevel.Information, opened.Level);
        Assert.Contains("protocol_error", closed.Message);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task HexDumpsBothDirectionsUpToTheCap(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen =>
        {
            listen.UseHexDump(maxBytesPerDirection: 20);
            listen.UseEcho();
        });
        await using var client = await host.ConnectAsync();
        await client.SendFrameAsync("ABCDEFGHIJKLMNOPQRSTUVWXYZ"u8.ToArray());
        Assert.Equal(26, (await client.ReceiveFrameAsync()).Length);
        await client.SendFrameAsync(new byte[] { 1 });
        await client.ReceiveFrameAsync();

        var received = await host.Logs.WaitForAsync(static r => r.EventId.Name == "HexDump" && r.Message.Contains("received", StringComparison.Ordinal));
        var sent = await host.Logs.WaitForAsync(static r => r.EventId.Name == "HexDump" && r.Message.Contains("sent", StringComparison.Ordinal));
        Assert.Contains("00 00 00 1A 41 42 43 44", received.Message);
        Assert.Contains("|....ABCDEFGHIJKL|", received.Message);
        Assert.Contains("cap", received.Message);
        Assert.Contains("00 00 00 1A 41 42 43 44", sent.Message);
        // The cap is per direction per connection: the second frame is over it and is not dumped.
        Assert.Equal(2, host.Logs.Records.Count(static r => r.EventId.Name == "HexDump"));
    }
}
