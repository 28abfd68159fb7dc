using System.Text;
using KeyValueServer;
using PipelineServer.Resp;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Resp;

public class RespClientTests
{
    private static CancellationToken Timeout => new CancellationTokenSource(TestClient.Timeout).Token;

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task PipelinesCommandsAndGetsRepliesInOrder(TransportKind transport)
    {
        using var store = new KeyValueStore();
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseResp(KeyValueCommands.CreateDispatcher(store)));
        await using var client = await RespClient.ConnectAsync(host.ClientFactory(), host.EndPoint, cancellationToken: Timeout);

        var replies = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => client.RequestAsync(RespRequest.Command("SET", $"k{i}", $"v{i}"), Timeout).AsTask()));
        Assert.All(replies, static r => Assert.Equal("OK", r.GetString()));
        var values = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => client.RequestAsync(RespRequest.Command("GET", $"k{i}"), Timeout).AsTask()));
        for (var i = 0; i < values.Length; i++)
        {
            Assert.Equal($"v{i}", values[i].GetString());
        }

        var error = await client.RequestAsync(RespRequest.Command("INCR", "k1"), Timeout);
        Assert.Equal((RespType.SimpleError, "ERR value is not an integer or out of range"), (error.Type, error.GetString()));

        var hello = await client.RequestAsync(RespRequest.Command("HELLO", "3"), Timeout);
        Assert.Equal((RespType.Map, 7L), (hello.Type, hello.Length));
        Assert.True((await client.RequestAsync(RespRequest.Command("GET", "missing"), Timeout)).IsNull);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task Resp3PushesArriveOnThePushStreamNotAsReplies(TransportKind transport)
    {
        var dispatcher = new RespCommandDispatcher()
            .Map("HELLO", 2, static (context, command) =>
            {
                context.ProtocolVersion = 3;
                context.WriteMap(0);
                return default;
            })
            .Map("NOTIFY", 2, static (context, command) =>
            {
                // A push before the reply, as a server delivering a pub/sub message between replies would send it.
                context.WritePush(2);
                context.WriteBulkString("message"u8.ToArray());
                context.WriteBulkString(command[1]);
                context.WriteOk();
                return default;
            });
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseResp(dispatcher));
        await using var client = await RespClient.ConnectAsync(host.ClientFactory(), host.EndPoint, cancellationToken: Timeout);
        await client.RequestAsync(RespRequest.Command("HELLO", "3"), Timeout);

        var reply = await client.RequestAsync(RespRequest.Command("NOTIFY", "news"), Timeout);

        Assert.Equal("OK", reply.GetString());
        await foreach (var push in client.ReadPushesAsync(Timeout))
        {
            Assert.Equal(RespType.Push, push.Type);
            var elements = new List<string>();
            foreach (var element in push.EnumerateElements())
            {
                elements.Add(Encoding.UTF8.GetString(element.Payload));
            }

            Assert.Equal(["message", "news"], elements);
            break;
        }
    }
}
