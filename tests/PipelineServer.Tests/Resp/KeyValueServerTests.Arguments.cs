using System.Text;
using KeyValueServer;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Resp;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Resp;

/// <summary>Integer arguments out of range, and every command with hostile arguments: Redis's replies, never a drop.</summary>
public partial class KeyValueServerTests
{
    private const string Max = "9223372036854775807";
    private const string Min = "-9223372036854775808";

    // In order on one connection, each with the reply redis-server 7.0 gives (with "databases 1", as the sample has one).
    private static readonly (string[] Command, string Reply)[] s_integerArguments =
    [
        (["SET", "n", "1"], "+OK\r\n"),
        (["DECRBY", "n", Min], "-ERR decrement would overflow\r\n"),
        (["INCRBY", "n", Max], "-ERR increment or decrement would overflow\r\n"),
        (["DECRBY", "n", "9223372036854775808"], "-ERR value is not an integer or out of range\r\n"),
        (["INCRBY", "n", "99999999999999999999"], "-ERR value is not an integer or out of range\r\n"),
        (["INCRBY", "n", "+1"], "-ERR value is not an integer or out of range\r\n"),
        (["INCRBY", "n", "01"], "-ERR value is not an integer or out of range\r\n"),
        (["INCRBY", "n", "-0"], "-ERR value is not an integer or out of range\r\n"),
        (["INCRBY", "n", " 1"], "-ERR value is not an integer or out of range\r\n"),
        (["INCRBY", "n", "1.5"], "-ERR value is not an integer or out of range\r\n"),
        (["INCRBY", "n", ""], "-ERR value is not an integer or out of range\r\n"),
        (["GET", "n"], "$1\r\n1\r\n"),
        (["SET", "max", Max], "+OK\r\n"),
        (["INCR", "max"], "-ERR increment or decrement would overflow\r\n"),
        (["INCRBY", "max", "1"], "-ERR increment or decrement would overflow\r\n"),
        (["SET", "min", Min], "+OK\r\n"),
        (["DECR", "min"], "-ERR increment or decrement would overflow\r\n"),
        (["DECRBY", "min", "1"], "-ERR increment or decrement would overflow\r\n"),
        (["INCRBY", "min", "-1"], "-ERR increment or decrement would overflow\r\n"),
        (["SET", "s", "01"], "+OK\r\n"),
        (["INCR", "s"], "-ERR value is not an integer or out of range\r\n"),
        (["SET", "s", "+1"], "+OK\r\n"),
        (["DECR", "s"], "-ERR value is not an integer or out of range\r\n"),
        (["SET", "k", "v"], "+OK\r\n"),
        (["EXPIRE", "k", Max], "-ERR invalid expire time in 'expire' command\r\n"),
        (["EXPIRE", "k", "9223372036854775"], "-ERR invalid expire time in 'expire' command\r\n"),
        (["EXPIRE", "k", "9223372036854774"], "-ERR invalid expire time in 'expire' command\r\n"),
        (["EXPIRE", "k", Min], "-ERR invalid expire time in 'expire' command\r\n"),
        (["PEXPIRE", "k", Max], "-ERR invalid expire time in 'pexpire' command\r\n"),
        (["EXPIRE", "missing", Max], "-ERR invalid expire time in 'expire' command\r\n"),
        (["TTL", "k"], ":-1\r\n"),
        (["SETEX", "k", Max, "v"], "-ERR invalid expire time in 'setex' command\r\n"),
        (["SETEX", "k", "9223372036854775", "v"], "-ERR invalid expire time in 'setex' command\r\n"),
        (["SETEX", "k", "0", "v"], "-ERR invalid expire time in 'setex' command\r\n"),
        (["PSETEX", "k", Max, "v"], "-ERR invalid expire time in 'psetex' command\r\n"),
        (["PSETEX", "k", "-1", "v"], "-ERR invalid expire time in 'psetex' command\r\n"),
        (["PSETEX", "p", Max, "v"], "-ERR invalid expire time in 'psetex' command\r\n"),
        (["EXISTS", "p"], ":0\r\n"),
        (["SET", "x", "v", "EX", Max], "-ERR invalid expire time in 'set' command\r\n"),
        (["SET", "x", "v", "PX", Max], "-ERR invalid expire time in 'set' command\r\n"),
        (["SET", "x", "v", "EXAT", Max], "-ERR invalid expire time in 'set' command\r\n"),
        (["SET", "x", "v", "EX", "0"], "-ERR invalid expire time in 'set' command\r\n"),
        (["SET", "x", "v", "EX", "abc"], "-ERR value is not an integer or out of range\r\n"),
        (["SET", "x", "v", "EX", "abc", "NX", "XX"], "-ERR syntax error\r\n"),
        (["EXISTS", "x"], ":0\r\n"),
        (["SET", "x", "v", "PXAT", Max], "+OK\r\n"),
        (["EXISTS", "x"], ":1\r\n"),
        (["PEXPIRE", "k", Min], ":1\r\n"),
        (["EXISTS", "k"], ":0\r\n"),
        (["SELECT", "99999999999"], "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"),
        (["SELECT", "01"], "-ERR value is not an integer or out of range\r\n"),
        (["SELECT", "1"], "-ERR DB index is out of range\r\n"),
        (["HELLO", "99999999999"], "-NOPROTO unsupported protocol version\r\n"),
        (["HELLO", "99999999999999999999"], "-ERR Protocol version is not an integer or out of range\r\n"),
        (["HELLO", "3", "AUTH", "a"], "-ERR Syntax error in HELLO option 'AUTH'\r\n"),
        (["HELLO", "2", "SETNAME"], "-ERR Syntax error in HELLO option 'SETNAME'\r\n"),
        (["HELLO", "2", "SETNAME", "a b"], "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"),
        (["CLIENT", "SETNAME", "a\nb"], "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"),
        (["PING"], "+PONG\r\n"),    ];

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task OverflowingAndMalformedIntegerArgumentsGetRedissErrorsAndTheConnectionStaysOpen(TransportKind transport)
    {
        var (host, store) = await StartAsync(transport, new FakeTimeProvider(DateTimeOffset.UtcNow));
        await using var _ = host;
        using var __ = store;
        await using var client = await host.ConnectAsync();

        foreach (var (command, reply) in s_integerArguments)
        {
            await client.SendAsync(Multibulk(command));
            var received = Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(reply.Length));
            Assert.Equal((string.Join(' ', command), reply), (string.Join(' ', command), received));
        }

        Assert.Empty(host.Errors);
    }

    [Fact]
    public async Task EveryCommandAnswersHostileArgumentsWithoutDroppingTheConnectionOrLoggingAnError()
    {
        string[] tokens = ["k", string.Empty, "0", "-1", "3", Max, Min, "99999999999999999999", "abc", "EX", "PXAT", "GET", "AUTH", "SETNAME"];
        var (host, store) = await StartAsync(TransportKind.Memory);
        await using var _ = host;
        using var __ = store;
        await using var client = await RespClient.ConnectAsync(host.ClientFactory(), host.EndPoint, cancellationToken: Timeout);
        var names = KeyValueCommands.CreateDispatcher(store).Commands.Where(static name => name != "QUIT").ToArray();

        // Every command with no argument and with every sequence of up to three of the tokens, and "k v" followed by
        // every pair (SET's options): whatever an answer says, it is an answer on a connection that stays open.
        var commands = new List<string[]>();
        foreach (var name in names)
        {
            commands.Add([name]);
            foreach (var a in tokens)
            {
                commands.Add([name, a]);
                foreach (var b in tokens)
                {
                    commands.Add([name, a, b]);
                    commands.Add([name, "k", "v", a, b]);
                    foreach (var c in tokens)
                    {
                        commands.Add([name, a, b, c]);
                    }
                }
            }
        }

        foreach (var batch in commands.Chunk(512))
        {
            await Task.WhenAll(batch.Select(command => client.RequestAsync(RespRequest.Command(command), Timeout).AsTask()));
        }

        Assert.Equal("PONG", (await client.RequestAsync(RespRequest.Command("PING"), Timeout)).GetString());
        Assert.Empty(host.Errors);
    }

    private static byte[] Multibulk(string[] arguments)
    {
        var text = new StringBuilder().Append('*').Append(arguments.Length).Append("\r\n");
        foreach (var argument in arguments)
        {
            text.Append('$').Append(Encoding.UTF8.GetByteCount(argument)).Append("\r\n").Append(argument).Append("\r\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
