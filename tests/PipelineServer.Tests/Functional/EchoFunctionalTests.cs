using EchoServer;
using Microsoft.Extensions.Logging;
using PipelineServer.Protocols;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Functional;

/// <summary>The echo sample's protocol on a real host, over real sockets and over the in-memory transport.</summary>
public class EchoFunctionalTests
{
    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task SeveralConnectionsEachPipeliningThousandsOfFramesGetEveryEchoInOrder(TransportKind transport)
    {
        const int Connections = 6;
        const int FramesPerConnection = 3000;
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseEcho());

        var workers = Enumerable.Range(0, Connections).Select(id => Task.Run(async () =>
        {
            await using var client = await host.ConnectAsync();
            var random = new Random(id);
            var payloads = Enumerable.Range(0, FramesPerConnection).Select(i =>
            {
                var payload = new byte[random.Next(0, 300)];
                random.NextBytes(payload);
                return payload;
            }).ToArray();

            // Send everything in large pipelined writes while reading concurrently, so the server sees many frames per read.
            var sending = Task.Run(async () =>
            {
                foreach (var chunk in payloads.Chunk(200))
                {
                    await client.SendAsync(chunk.SelectMany(static p => TestClient.Frame(p)).ToArray());
                }
            });

            foreach (var payload in payloads)
            {
                Assert.Equal(payload, await client.ReceiveFrameAsync());
            }

            await sending;
        })).ToArray();

        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Empty(host.Errors);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AnOversizeFrameClosesThatConnectionWhileAnotherKeepsWorking(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseEcho(maxFrameLength: 1024));
        await using var good = await host.ConnectAsync();
        await using var bad = await host.ConnectAsync();
        await good.SendFrameAsync(new byte[] { 1 });
        Assert.Equal([1], await good.ReceiveFrameAsync());

        // A frame ahead of the bad one is still answered; the bad header alone closes the connection, body unsent.
        await bad.SendAsync((byte[])[.. TestClient.Frame([7]), 0x00, 0x00, 0x04, 0x01]);

        Assert.Equal([7], await bad.ReceiveFrameAsync());
        var (rest, _) = await bad.WaitForCloseAsync();
        Assert.Empty(rest);
        var logged = await host.Logs.WaitForEventAsync("ProtocolError");
        Assert.Equal(LogLevel.Debug, logged.Level);
        Assert.Contains("The frame length 1029 exceeds the maximum of 1024 bytes.", logged.Message, StringComparison.Ordinal);
        Assert.Contains("MessageTooLarge", logged.Message, StringComparison.Ordinal);

        await good.SendFrameAsync(new byte[] { 2, 3 });
        Assert.Equal([2, 3], await good.ReceiveFrameAsync());
        Assert.Empty(host.Errors);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AClientResetMidFrameIsAQuietExpectedEventAndOthersContinue(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseEcho());
        await using var other = await host.ConnectAsync();
        var resetter = await host.ConnectAsync();
        await resetter.SendFrameAsync(new byte[] { 9 });
        Assert.Equal([9], await resetter.ReceiveFrameAsync());

        await resetter.SendAsync(new byte[] { 0, 0, 0, 100, 1, 2, 3 });
        resetter.Reset();

        var logged = await host.Logs.WaitForEventAsync("ConnectionEndedAbruptly");
        Assert.Equal(LogLevel.Debug, logged.Level);
        await other.SendFrameAsync(new byte[] { 4 });
        Assert.Equal([4], await other.ReceiveFrameAsync());
        Assert.Empty(host.Errors);
        Assert.DoesNotContain(host.Logs.Records, static r => r.EventId.Name == "ProtocolError");
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AStreamThatEndsInsideAFrameIsAProtocolErrorNotACleanClose(TransportKind transport)
    {
        var disconnects = new DisconnectRecorder();
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, disconnects));

        await using (var clean = await host.ConnectAsync())
        {
            await clean.SendFrameAsync(new byte[] { 1 });
            await clean.CompleteSendingAsync();
            Assert.Equal(TestClient.Frame([1]), (await clean.WaitForCloseAsync()).Received);
        }

        Assert.Null(await disconnects.Next.WaitAsync(TestClient.Timeout));

        await using (var truncated = await host.ConnectAsync())
        {
            await truncated.SendAsync(new byte[] { 0, 0, 0, 10, 1, 2 });
            await truncated.CompleteSendingAsync();
            await truncated.WaitForCloseAsync();
        }

        var error = Assert.IsType<ProtocolException>(await disconnects.Next.WaitAsync(TestClient.Timeout));
        Assert.Equal(ProtocolErrorKind.Truncated, error.Kind);
        var logged = await host.Logs.WaitForEventAsync("ProtocolError");
        Assert.Contains("ended inside a message", logged.Message, StringComparison.Ordinal);
    }

    private sealed class DisconnectRecorder : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        private readonly System.Threading.Channels.Channel<Exception?> _disconnects = System.Threading.Channels.Channel.CreateUnbounded<Exception?>();

        public Task<Exception?> Next => _disconnects.Reader.ReadAsync().AsTask();

        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            session.Write(message);
            return default;
        }

        public ValueTask OnDisconnectedAsync(ProtocolSession<ReadOnlySequence<byte>> session, Exception? error)
        {
            _disconnects.Writer.TryWrite(error);
            return default;
        }
    }
}
