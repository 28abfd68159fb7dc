using System.Security.Cryptography;
using EchoServer;
using PipelineServer.Protocols;
using PipelineServer.Protocols.Framing;
using PipelineServer.Testing;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Reliability;

// Rows of the hostile-input matrix in docs/reliability.md that other test classes do not already cover. Each runs over
// real sockets and the in-memory transport, and each ends by checking that a connection opened before the hostile one
// is still served: the bad input costs its own connection only.
public class HostileInputTests
{
    private static readonly EchoHandler s_echo = new();

    private static Task<TestHost> StartAsync<TWriter>(TransportKind transport, IMessageReader<ReadOnlySequence<byte>> reader, TWriter writer)
        where TWriter : IMessageWriter<ReadOnlySequence<byte>> =>
        TestHost.StartAsync(transport, listen => listen.UseProtocol(reader, writer, s_echo));

    // The good client's round trip: with an echo handler the reply is the request's own encoding.
    private static async Task AssertServedAsync(TestClient client, byte[] request)
    {
        await client.SendAsync(request);
        Assert.Equal(request, await client.ReceiveExactlyAsync(request.Length));
    }

    private static async Task AssertClosedForProtocolErrorAsync(TestHost host, TestClient hostile, ProtocolErrorKind kind)
    {
        var (received, _) = await hostile.WaitForCloseAsync();
        Assert.Empty(received);
        var logged = await host.Logs.WaitForEventAsync("ProtocolError");
        Assert.Contains($"({kind})", logged.Message, StringComparison.Ordinal);
    }

    public static TheoryData<TransportKind, string, ProtocolErrorKind> LengthFieldHeaders()
    {
        var data = new TheoryData<TransportKind, string, ProtocolErrorKind>();
        foreach (var transport in new[] { TransportKind.Sockets, TransportKind.Memory })
        {
            data.Add(transport, "FFFFFFFFFFFFFFFF", ProtocolErrorKind.Malformed); // -1 as a signed 64-bit length
            data.Add(transport, "8000000000000000", ProtocolErrorKind.Malformed); // the most negative
            data.Add(transport, "7FFFFFFFFFFFFFFF", ProtocolErrorKind.MessageTooLarge); // the largest positive
            data.Add(transport, "0000000100000000", ProtocolErrorKind.MessageTooLarge); // 4 GiB: overflows an int
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(LengthFieldHeaders))]
    public async Task NegativeAndOverflowingLengthsAreRefusedBeforeAnyBodyArrives(TransportKind transport, string header, ProtocolErrorKind kind)
    {
        var writer = new LengthFieldPrepender(lengthFieldLength: 8);
        await using var host = await StartAsync(transport, new LengthFieldFrameReader(maxFrameLength: 1024, lengthFieldLength: 8, initialBytesToStrip: 8), writer);
        await using var good = await host.ConnectAsync();
        await AssertServedAsync(good, writer.WriteToArray(new ReadOnlySequence<byte>([1, 2, 3])));

        await using var hostile = await host.ConnectAsync();
        await hostile.SendAsync(Convert.FromHexString(header));

        await AssertClosedForProtocolErrorAsync(host, hostile, kind);
        await AssertServedAsync(good, writer.WriteToArray(new ReadOnlySequence<byte>([4])));
        Assert.Empty(host.Errors);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AnOverlongVarintIsMalformed(TransportKind transport)
    {
        var writer = new VarintFrameWriter();
        await using var host = await StartAsync(transport, new VarintFrameReader(maxFrameLength: 1024), writer);
        await using var good = await host.ConnectAsync();
        await AssertServedAsync(good, writer.WriteToArray(new ReadOnlySequence<byte>([1, 2, 3])));

        // Six bytes that all say "more follows": longer than any 32-bit varint can be.
        await using var hostile = await host.ConnectAsync();
        await hostile.SendAsync(new byte[] { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80 });

        await AssertClosedForProtocolErrorAsync(host, hostile, ProtocolErrorKind.Malformed);
        await AssertServedAsync(good, writer.WriteToArray(new ReadOnlySequence<byte>([4])));
        Assert.Empty(host.Errors);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ADelimiterThatNeverComesIsCutOffAtTheFrameLimit(TransportKind transport)
    {
        var writer = new DelimiterFrameWriter("\r\n"u8);
        await using var host = await StartAsync(transport, DelimiterFrameReader.Lines(maxFrameLength: 1024), writer);
        await using var good = await host.ConnectAsync();
        await AssertServedAsync(good, "hello\r\n"u8.ToArray());

        // 64 KiB of a line that never ends: refused once it passes 1 KiB, not buffered to the end.
        await using var hostile = await host.ConnectAsync();
        await hostile.SendAsync(Enumerable.Repeat((byte)'a', 64 * 1024).ToArray());

        await AssertClosedForProtocolErrorAsync(host, hostile, ProtocolErrorKind.MessageTooLarge);
        await AssertServedAsync(good, "again\r\n"u8.ToArray());
        Assert.Empty(host.Errors);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task FramesSentOneByteAtATimeAreAnsweredWhole(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseEcho());
        await using var good = await host.ConnectAsync();
        await using var trickle = await host.ConnectAsync();

        var payloads = new[] { new byte[] { 1 }, new byte[300], RandomNumberGenerator.GetBytes(70) };
        foreach (var b in payloads.SelectMany(static p => TestClient.Frame(p)))
        {
            await trickle.SendAsync(new[] { b });
        }

        foreach (var payload in payloads)
        {
            Assert.Equal(payload, await trickle.ReceiveFrameAsync());
        }

        await AssertServedAsync(good, TestClient.Frame([5]));
        Assert.Empty(host.Errors);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AMegabyteOfGarbageClosesThatConnectionOnly(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseEcho(maxFrameLength: 64 * 1024));
        await using var good = await host.ConnectAsync();
        await AssertServedAsync(good, TestClient.Frame([1]));

        // Random bytes, except a first header that is valid (a 100-byte frame) so the garbage is parsed, not just refused
        // at the first byte; the next header it meets is over the limit (its first byte is forced high).
        var garbage = RandomNumberGenerator.GetBytes(1024 * 1024);
        garbage[0] = 0;
        garbage[1] = 0;
        garbage[2] = 0;
        garbage[3] = 100;
        garbage[104] = 0x7F;
        await using var hostile = await host.ConnectAsync();
        var sending = hostile.SendAsync(garbage);

        var (received, _) = await hostile.WaitForCloseAsync();
        Assert.Equal(TestClient.Frame(garbage.AsSpan(4, 100)), received);
        try
        {
            await sending.WaitAsync(TestClient.Timeout); // the close may or may not cut the send short
        }
        catch (Exception e) when (e is not TimeoutException)
        {
        }

        var logged = await host.Logs.WaitForEventAsync("ProtocolError");
        Assert.Contains("(MessageTooLarge)", logged.Message, StringComparison.Ordinal);
        await AssertServedAsync(good, TestClient.Frame([2]));
        Assert.Empty(host.Errors);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AResetWhileTheServerIsStillWritingAResponseIsQuiet(TransportKind transport)
    {
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseEcho());
        await using var good = await host.ConnectAsync();
        var resetter = await host.ConnectAsync();

        // 8 MiB of echoes requested, none read, then a reset while the server is writing them.
        var request = TestClient.Frame(new byte[512 * 1024]);
        var sending = Task.Run(async () =>
        {
            try
            {
                for (var i = 0; i < 16; i++)
                {
                    await resetter.Output.WriteAsync(request);
                }
            }
            catch (Exception)
            {
                // The reset ends the sending too.
            }
        });

        Assert.Equal(4 + (512 * 1024), (await resetter.ReceiveExactlyAsync(4 + (512 * 1024))).Length);
        resetter.Reset();
        await sending.WaitAsync(TestClient.Timeout);

        await host.Logs.WaitForEventAsync("ConnectionEndedAbruptly");
        await AssertServedAsync(good, TestClient.Frame([3]));
        Assert.Empty(host.Errors);
        Assert.DoesNotContain(host.Logs.Records, static r => r.EventId.Name == "ProtocolError");
    }
}
