using System.Net;
using System.Net.Sockets;
using System.Text;
using PipelineServer.LoadTest.Scenarios.Resp;

namespace PipelineServer.LoadTest.Tests;

/// <summary>
/// The resp-floor servers perf/redis-compare.sh measures next to the sample: what they answer, how they treat a command
/// split across reads and malformed input, and both transports over loopback.
/// </summary>
public sealed class RespFloorTests
{
    // SET, GET, an inline PING, CONFIG GET, and a GET in lower case.
    private const string Commands =
        "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
        + "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
        + "PING\r\n"
        + "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n"
        + "*2\r\n$3\r\nget\r\n$0\r\n\r\n";

    private const string Replies = "+OK\r\n$4\r\nxxxx\r\n+PONG\r\n*0\r\n$4\r\nxxxx\r\n";

    private static readonly byte[] s_bulk = RespFloor.BulkReply(4);

    [Fact]
    public void Answers_every_whole_command_with_a_reply_of_the_real_size()
    {
        var input = Encoding.ASCII.GetBytes(Commands);
        var output = new ArrayBufferWriter<byte>();

        var consumed = RespFloor.Answer(input, output, s_bulk, out var answered);

        Assert.Equal(input.Length, consumed);
        Assert.Equal(5, answered);
        Assert.Equal(Replies, Encoding.ASCII.GetString(output.WrittenSpan));
    }

    [Fact]
    public void A_stream_split_at_any_byte_is_answered_once_per_command()
    {
        var input = Encoding.ASCII.GetBytes(Commands);
        for (var split = 0; split <= input.Length; split++)
        {
            var output = new ArrayBufferWriter<byte>();
            var first = RespFloor.Answer(input.AsSpan(0, split), output, s_bulk, out var answeredFirst);
            Assert.InRange(first, 0, split);

            // What the first read left (a partial command) comes back with the rest of the stream, as a server holds it.
            var second = RespFloor.Answer(input.AsSpan(first), output, s_bulk, out var answeredSecond);

            Assert.Equal(input.Length, first + second);
            Assert.Equal(5, answeredFirst + answeredSecond);
            Assert.Equal(Replies, Encoding.ASCII.GetString(output.WrittenSpan));
        }
    }

    [Theory]
    [InlineData("*x\r\n")]
    [InlineData("*0\r\n")]
    [InlineData("*-1\r\n")]
    [InlineData("*1025\r\n")]
    [InlineData("*99999999999\r\n")]
    [InlineData("*1\n")]
    [InlineData("*2\r\n+OK\r\n")]
    [InlineData("*1\r\n$-1\r\n")]
    [InlineData("*1\r\n$999999\r\n")]
    [InlineData("*1\r\n$3\r\nGETX\r\n")]
    [InlineData("*1\r\n$1234567890123\r\n")]
    public void Malformed_commands_are_refused(string input)
    {
        var output = new ArrayBufferWriter<byte>();

        Assert.Equal(-1, RespFloor.Answer(Encoding.ASCII.GetBytes(input), output, s_bulk, out var answered));
        Assert.Equal(0, answered);
    }

    [Fact]
    public void An_inline_line_is_held_until_its_end_and_refused_past_the_bound()
    {
        var output = new ArrayBufferWriter<byte>();
        var partial = new byte[RespFloor.MaxLine];
        partial.AsSpan().Fill((byte)'a');

        Assert.Equal(0, RespFloor.Answer(partial, output, s_bulk, out _));
        Assert.Equal(-1, RespFloor.Answer([.. partial, (byte)'a'], output, s_bulk, out _));
        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void A_partial_command_longer_than_the_bound_is_refused()
    {
        // Five arguments of 64 KiB, the fifth not arrived yet: more than MaxCommand held for one command.
        var bulk = "$65536\r\n" + new string('v', 65536) + "\r\n";
        var input = Encoding.ASCII.GetBytes("*5\r\n" + string.Concat(Enumerable.Repeat(bulk, 4)) + "$65536\r\nvvvv");
        var output = new ArrayBufferWriter<byte>();

        Assert.True(input.Length > RespFloor.MaxCommand);
        Assert.Equal(-1, RespFloor.Answer(input, output, s_bulk, out _));
        Assert.Equal(0, RespFloor.Answer(input.AsSpan(0, RespFloor.MaxCommand), output, s_bulk, out _));
    }

    [Theory]
    [InlineData("--size", "-1")]
    [InlineData("--size", "65537")]
    [InlineData("--transport", "uring")]
    public async Task The_command_refuses_bad_options_without_starting_a_server(string option, string value)
    {
        // Were the option taken, the floor would serve until cancelled: the timeout turns that into a failure, not a hang.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var exit = await Cli.Commands.Build().Parse(["resp-floor", option, value]).InvokeAsync(cancellationToken: timeout.Token);

        Assert.NotEqual(Cli.ExitCodes.Success, exit);
    }

    [Theory]
    [InlineData("kestrel")]
    [InlineData("sockets")]
    public async Task Serves_pipelined_commands_over_loopback_and_closes_only_a_malformed_connection(string transport)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = transport == "kestrel"
            ? await RespFloor.StartKestrelAsync(0, 4, timeout.Token)
            : RespFloor.StartSockets(0, 4);
        try
        {
            var port = ((IPEndPoint)server.EndPoint).Port;
            using var good = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await good.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), timeout.Token);
            using var bad = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await bad.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), timeout.Token);

            // The pipeline in two writes, the second starting inside the GET.
            var commands = Encoding.ASCII.GetBytes(Commands);
            await good.SendAsync(commands.AsMemory(0, 50), SocketFlags.None, timeout.Token);
            await good.SendAsync(commands.AsMemory(50), SocketFlags.None, timeout.Token);
            Assert.Equal(Replies, await ReceiveAsync(good, Replies.Length, timeout.Token));

            await bad.SendAsync("*2\r\n+OK\r\n"u8.ToArray(), SocketFlags.None, timeout.Token);
            Assert.Equal(0, await bad.ReceiveAsync(new byte[16], SocketFlags.None, timeout.Token));

            await good.SendAsync("PING\r\n"u8.ToArray(), SocketFlags.None, timeout.Token);
            Assert.Equal("+PONG\r\n", await ReceiveAsync(good, 7, timeout.Token));
        }
        finally
        {
            await server.StopAsync();
        }
    }

    private static async Task<string> ReceiveAsync(Socket socket, int length, CancellationToken cancellationToken)
    {
        var buffer = new byte[length];
        var filled = 0;
        while (filled < length)
        {
            var received = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken);
            Assert.NotEqual(0, received);
            filled += received;
        }

        return Encoding.ASCII.GetString(buffer);
    }
}
