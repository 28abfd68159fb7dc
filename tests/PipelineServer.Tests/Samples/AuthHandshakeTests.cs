using System.Security.Cryptography;
using AuthHandshake;
using EchoServer;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Testing;
using PipelineServer.Tests.Infrastructure;
using static PipelineServer.Tests.Middleware.MiddlewareTestKit;

namespace PipelineServer.Tests.Samples;

/// <summary>The custom-middleware example of docs/middleware.md: a shared-secret handshake before the protocol runs.</summary>
public class AuthHandshakeTests
{
    private static readonly byte[] s_secret = "correct horse battery staple"u8.ToArray();

    private static Task<TestHost> StartAsync(TransportKind transport, CountingEcho handler, TimeProvider? time = null) =>
        TestHost.StartAsync(transport, listen => listen
            .UseSharedSecretHandshake(s_secret, TimeSpan.FromSeconds(5), time)
            .UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler));

    private static CancellationToken Timeout => new CancellationTokenSource(TestClient.Timeout).Token;

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AClientThatKnowsTheSecretGetsThroughToTheProtocol(TransportKind transport)
    {
        var handler = new CountingEcho();
        await using var host = await StartAsync(transport, handler);
        var factory = host.ClientFactory(builder => builder.UseSharedSecretHandshake(s_secret));

        await using var connection = await factory.ConnectAsync(host.EndPoint, Timeout);
        await connection.Transport.Output.WriteAsync(TestClient.Frame([1, 2, 3]), Timeout);

        Assert.Equal([1, 2, 3], await connection.Transport.Input.ReceiveMessageAsync(EchoProtocol.CreateReader(), static f => f.ToArray(), Timeout));
        Assert.True(handler.SawAuthenticatedConnection);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AWrongSecretIsRefusedBeforeAnyMessageReachesTheHandler(TransportKind transport)
    {
        var handler = new CountingEcho();
        await using var host = await StartAsync(transport, handler);
        var factory = host.ClientFactory(builder => builder.UseSharedSecretHandshake("wrong"u8.ToArray()));

        await Assert.ThrowsAsync<ConnectionAbortedException>(async () => await factory.ConnectAsync(host.EndPoint, Timeout));

        var log = await host.Logs.WaitForEventAsync("HandshakeFailed");
        Assert.Contains("wrong answer", log.Message);
        Assert.Equal(0, handler.Messages);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AClientThatSkipsTheHandshakeIsClosedAndItsFramesAreNeverHandled(TransportKind transport)
    {
        var handler = new CountingEcho();
        await using var host = await StartAsync(transport, handler);
        await using var client = await host.ConnectAsync();

        // 40 bytes of echo frames where the answer should be: read as a wrong answer.
        await client.SendAsync(TestClient.Frame(new byte[16]).Concat(TestClient.Frame(new byte[16])).ToArray());

        var (received, _) = await client.WaitForCloseAsync();
        Assert.Equal(SharedSecretHandshake.Length, received.Length); // the challenge, nothing else
        Assert.Equal(0, handler.Messages);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ASilentClientIsClosedWhenTheHandshakeTimesOut(TransportKind transport)
    {
        var time = new FakeTimeProvider();
        await using var host = await StartAsync(transport, new CountingEcho(), time);
        await using var client = await host.ConnectAsync();
        var challenge = await client.ReceiveExactlyAsync(SharedSecretHandshake.Length); // the middleware is waiting now

        time.Advance(TimeSpan.FromSeconds(6));

        await AssertClosedWithoutReplyAsync(client);
        var log = await host.Logs.WaitForEventAsync("HandshakeFailed");
        Assert.Contains("no answer in time", log.Message);
        Assert.NotEqual(new byte[SharedSecretHandshake.Length], challenge);
    }

    [Fact]
    public async Task EachConnectionGetsAFreshChallengeSoARecordedAnswerIsUseless()
    {
        await using var host = await StartAsync(TransportKind.Sockets, new CountingEcho());
        await using var first = await host.ConnectAsync();
        var challenge = await first.ReceiveExactlyAsync(SharedSecretHandshake.Length);
        var answer = HMACSHA256.HashData(s_secret, challenge);
        await first.SendAsync(answer);
        var verdict = await first.ReceiveExactlyAsync(1);
        Assert.Equal([SharedSecretHandshake.Accepted], verdict);

        await using var replay = await host.ConnectAsync();
        Assert.NotEqual(challenge, await replay.ReceiveExactlyAsync(SharedSecretHandshake.Length));
        await replay.SendAsync(answer);
        Assert.Empty((await replay.WaitForCloseAsync()).Received);
    }

    private sealed class CountingEcho : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        private int _messages;

        public int Messages => Volatile.Read(ref _messages);

        public bool SawAuthenticatedConnection { get; private set; }

        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            Interlocked.Increment(ref _messages);
            SawAuthenticatedConnection = session.Items.TryGetValue(SharedSecretHandshake.AuthenticatedItem, out var value) && value is true;
            session.Write(message);
            return default;
        }
    }
}
