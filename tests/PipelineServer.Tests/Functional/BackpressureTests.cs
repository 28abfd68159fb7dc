using EchoServer;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Functional;

public class BackpressureTests
{
    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task APeerThatDoesNotReadHoldsTheServerBackInsteadOfGrowingItsMemory(TransportKind transport)
    {
        const int Requests = 1000;
        const int ResponseSize = 64 * 1024;
        var handler = new BigResponseHandler(ResponseSize);
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler));
        await using var slow = await host.ConnectAsync();
        await using var other = await host.ConnectAsync();

        await slow.SendAsync(Enumerable.Range(0, Requests).SelectMany(static _ => TestClient.Frame([1])).ToArray());

        // The server stops producing once the transport's buffers are full: far fewer than 1000 x 64 KiB responses.
        var handledWhenBlocked = await handler.Blocked.WaitAsync(TestClient.Timeout);
        Assert.InRange(handledWhenBlocked, 1, Requests / 4);

        // Other connections are served meanwhile.
        await other.SendFrameAsync(new byte[] { 2 });
        Assert.Equal(ResponseSize, (await other.ReceiveFrameAsync()).Length);

        // Once the peer reads, every response arrives.
        for (var i = 0; i < Requests; i++)
        {
            Assert.Equal(ResponseSize, (await slow.ReceiveFrameAsync()).Length);
        }

        Assert.Empty(host.Errors);
    }

    private sealed class BigResponseHandler(int size) : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        private readonly ReadOnlySequence<byte> _response = new(new byte[size]);
        private readonly TaskCompletionSource<int> _blocked = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _handled;

        public Task<int> Blocked => _blocked.Task;

        public async ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            var handled = Interlocked.Increment(ref _handled);
            var write = session.WriteAsync(_response);
            if (!write.IsCompleted)
            {
                _blocked.TrySetResult(handled);
            }

            await write;
        }
    }
}
