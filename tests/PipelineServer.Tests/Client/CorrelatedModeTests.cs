using System.Buffers.Binary;
using EchoServer;
using PipelineServer.Client;
using PipelineServer.Protocols;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Client;

/// <summary>Correlated mode: each frame starts with an 8-byte id, and the test server answers out of order.</summary>
public class CorrelatedModeTests
{
    private static readonly IMessageReader<byte[]> s_responses = EchoProtocol.CreateReader().Select(static frame => frame.ToArray());

    private static ProtocolClientOptions<ReadOnlySequence<byte>, byte[]> Correlated() => new()
    {
        RequestId = static request => ReadId(request.FirstSpan),
        ResponseId = static response => ReadId(response),
    };

    private static long ReadId(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadInt64BigEndian(frame);

    private static ReadOnlySequence<byte> Request(long id, string body)
    {
        var bytes = new byte[8 + body.Length];
        BinaryPrimitives.WriteInt64BigEndian(bytes, id);
        System.Text.Encoding.ASCII.GetBytes(body, bytes.AsSpan(8));
        return new ReadOnlySequence<byte>(bytes);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ResponsesThatComeBackInAnyOrderReachTheirOwnRequests(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, new ReversingHandler(batch: 8)));
        await using var client = await ProtocolClient.ConnectAsync(host.ClientFactory(), host.EndPoint, s_responses, EchoProtocol.Writer, Correlated());

        var requests = Enumerable.Range(1, 800).Select(id => (Id: (long)id, Task: client.RequestAsync(Request(id, $"body-{id}")).AsTask())).ToArray();

        foreach (var (id, task) in requests)
        {
            var response = await task.WaitAsync(TestClient.Timeout);
            Assert.Equal(id, ReadId(response));
            Assert.Equal($"body-{id}", System.Text.Encoding.ASCII.GetString(response.AsSpan(8)));
        }

        Assert.Equal(0, client.UnmatchedResponses);
    }

    [Fact]
    public async Task ACancelledCorrelatedRequestIsForgottenAndItsLateResponseDropped()
    {
        await using var host = await TestHost.StartAsync(TransportKind.Memory, listen => listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, new ReversingHandler(batch: 2)));
        await using var client = await ProtocolClient.ConnectAsync(host.ClientFactory(), host.EndPoint, s_responses, EchoProtocol.Writer, Correlated());
        using var cancel = new CancellationTokenSource();

        var first = client.RequestAsync(Request(1, "a"), cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await first);
        var second = await client.RequestAsync(Request(2, "b")).AsTask().WaitAsync(TestClient.Timeout);

        Assert.Equal(2, ReadId(second));
        Assert.Equal(1, client.UnmatchedResponses);
        Assert.Equal(0, client.PendingRequests);
    }

    [Fact]
    public async Task TwoRequestsWithOneIdInFlightAreRefused()
    {
        await using var host = await TestHost.StartAsync(TransportKind.Memory, listen => listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, new ReversingHandler(batch: 2)));
        await using var client = await ProtocolClient.ConnectAsync(host.ClientFactory(), host.EndPoint, s_responses, EchoProtocol.Writer, Correlated());

        var pending = client.RequestAsync(Request(5, "x"));
        var ex = await Assert.ThrowsAsync<ArgumentException>(async () => await client.RequestAsync(Request(5, "y")));

        Assert.Contains("id 5", ex.Message, StringComparison.Ordinal);
        Assert.Equal(6, ReadId(await client.RequestAsync(Request(6, "z")).AsTask().WaitAsync(TestClient.Timeout)));
        Assert.Equal(5, ReadId(await pending.AsTask().WaitAsync(TestClient.Timeout)));
    }

    // Holds requests until it has `batch` of them, then answers them newest first.
    private sealed class ReversingHandler(int batch) : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        public ValueTask OnConnectedAsync(ProtocolSession<ReadOnlySequence<byte>> session)
        {
            session.State = new Stack<byte[]>();
            return default;
        }

        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            var held = (Stack<byte[]>)session.State!;
            held.Push(message.ToArray());
            if (held.Count == batch)
            {
                while (held.TryPop(out var reply))
                {
                    session.Write(new ReadOnlySequence<byte>(reply));
                }
            }

            return default;
        }
    }
}
