using System.Buffers;
using System.CommandLine;
using System.Globalization;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using PipelineServer.LoadTest.Cli;

namespace PipelineServer.LoadTest.Scenarios.Resp;

/// <summary>
/// Reference points for <c>redis-benchmark</c> (<c>FLOORS=1 perf/redis-compare.sh</c>): the least a server can do to
/// answer it, on Kestrel's transport (a bare connection delegate with the sample's transport settings) and on
/// bare sockets. Each finds the whole RESP commands in a read and answers each with a reply of the real size: <c>+OK</c>
/// for SET, a bulk string of <c>--size</c> bytes for GET, <c>+PONG</c> for PING, an empty array for anything else. They
/// store nothing and look at nothing but the first letter of the command's name: what they measure is the transport and
/// the runtime under the protocol, not a server anyone should deploy. Malformed input closes the connection.
/// </summary>
internal static class RespFloor
{
    public const string Name = "resp-floor";

    // Bounds that keep a malformed or hostile peer from growing a connection's buffer without end.
    internal const int MaxArguments = 1024;
    internal const int MaxBulkLength = 64 * 1024;
    internal const int MaxLine = 64 * 1024;
    internal const int MaxCommand = 256 * 1024;

    private static readonly byte[] s_ok = "+OK\r\n"u8.ToArray();
    private static readonly byte[] s_pong = "+PONG\r\n"u8.ToArray();
    private static readonly byte[] s_empty = "*0\r\n"u8.ToArray();

    public static Command BuildCommand()
    {
        var transport = new Option<string>("--transport") { Description = "kestrel (Kestrel's socket transport, a bare connection delegate) or sockets (bare .NET sockets).", DefaultValueFactory = _ => "kestrel" };
        transport.AcceptOnlyFromAmong("kestrel", "sockets");
        var port = new Option<int>("--port") { Description = "Loopback port to listen on (0: any free port, printed).", DefaultValueFactory = _ => 0 };
        var size = new Option<int>("--size", "-s") { Description = "Bytes in a GET's reply (the benchmark's -d).", DefaultValueFactory = _ => 16 };
        var command = new Command(Name, "A floor for redis-benchmark: answers SET, GET and PING with replies of the real size and stores nothing, on Kestrel's transport or bare sockets; runs until stopped.") { transport, port, size };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var bytes = parse.GetValue(size);
            if (bytes is < 0 or > MaxBulkLength)
            {
                await Console.Error.WriteLineAsync($"--size must be within 0-{MaxBulkLength}.");
                return ExitCodes.CannotRun;
            }

            var server = parse.GetValue(transport) == "sockets"
                ? StartSockets(parse.GetValue(port), bytes)
                : await StartKestrelAsync(parse.GetValue(port), bytes, cancellationToken);
            await Console.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"listening on tcp://{server.EndPoint}"));

            // Kestrel's host takes SIGTERM for itself; this registration stops the floor on it as well as on Ctrl+C.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                stop.Cancel();
            });
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }

            await server.StopAsync();
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The GET reply for values of <paramref name="size"/> bytes.</summary>
    internal static byte[] BulkReply(int size) =>
        [.. Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"${size}\r\n")), .. Enumerable.Repeat((byte)'x', size), .. "\r\n"u8];

    /// <summary>
    /// Answers every whole command at the front of <paramref name="input"/>. Returns the bytes consumed (a partial
    /// command is left for the next read), or -1 when the input is not RESP or what is left is longer than one command
    /// may be.
    /// </summary>
    internal static int Answer(ReadOnlySpan<byte> input, IBufferWriter<byte> output, byte[] bulkReply, out int answered)
    {
        var consumed = AnswerWhole(input, output, bulkReply, out answered);
        return consumed >= 0 && input.Length - consumed > MaxCommand ? -1 : consumed;
    }

    private static int AnswerWhole(ReadOnlySpan<byte> input, IBufferWriter<byte> output, byte[] bulkReply, out int answered)
    {
        answered = 0;
        var consumed = 0;
        while (consumed < input.Length)
        {
            var command = input[consumed..];
            int length;
            byte name = 0;
            if (command[0] == (byte)'*')
            {
                var position = 0;
                var state = ReadLength(command, ref position, out var count);
                if (state <= 0)
                {
                    return state < 0 ? -1 : consumed;
                }

                if (count is < 1 or > MaxArguments)
                {
                    return -1;
                }

                for (var i = 0; i < count; i++)
                {
                    if (position == command.Length)
                    {
                        return consumed;
                    }

                    if (command[position] != (byte)'$')
                    {
                        return -1;
                    }

                    state = ReadLength(command, ref position, out var bulkLength);
                    if (state <= 0)
                    {
                        return state < 0 ? -1 : consumed;
                    }

                    if (bulkLength > MaxBulkLength)
                    {
                        return -1;
                    }

                    if (command.Length - position < bulkLength + 2)
                    {
                        return consumed;
                    }

                    if (command[position + bulkLength] != (byte)'\r' || command[position + bulkLength + 1] != (byte)'\n')
                    {
                        return -1;
                    }

                    if (i == 0 && bulkLength > 0)
                    {
                        name = command[position];
                    }

                    position += bulkLength + 2;
                }

                length = position;
            }
            else
            {
                // An inline command (PING\r\n, as redis-benchmark's PING_INLINE sends it).
                var end = command.IndexOf((byte)'\n');
                if (end < 0)
                {
                    return command.Length > MaxLine ? -1 : consumed;
                }

                name = command[0];
                length = end + 1;
            }

            output.Write((name | 0x20) switch
            {
                'g' => bulkReply,
                's' => s_ok,
                'p' => s_pong,
                _ => s_empty,
            });
            answered++;
            consumed += length;
        }

        return consumed;
    }

    // Reads the decimal after a type byte up to its CRLF: 1 with the value, 0 when the line is not whole yet, -1 when it
    // is malformed (not digits, no CR, too long).
    private static int ReadLength(ReadOnlySpan<byte> command, ref int position, out int value)
    {
        value = 0;
        var line = command[(position + 1)..];
        var end = line.IndexOf((byte)'\n');
        if (end < 0)
        {
            return line.Length > 12 ? -1 : 0;
        }

        if (end < 2 || end > 11 || line[end - 1] != (byte)'\r')
        {
            return -1;
        }

        long number = 0;
        foreach (var c in line[..(end - 1)])
        {
            var digit = c - '0';
            if ((uint)digit > 9)
            {
                return -1;
            }

            number = (number * 10) + digit;
        }

        if (number > int.MaxValue)
        {
            return -1;
        }

        value = (int)number;
        position += end + 2;
        return 1;
    }

    public static Task<RunningServer> StartKestrelAsync(int port, int size, CancellationToken cancellationToken)
    {
        var bulkReply = BulkReply(size);
        BareServer.Responder responder = (in ReadOnlySequence<byte> buffer, PipeWriter output, out int answered) => AnswerSequence(buffer, output, bulkReply, out answered);

        // The transport settings perf/redis-compare.sh gives the sample: handlers on the socket threads, receives
        // straight into a buffer.
        return BareServer.StartKestrelAsync(
            port,
            connection => BareServer.RespondAsync(connection, responder),
            static o =>
            {
                o.UnsafePreferInlineScheduling = true;
                o.WaitForDataBeforeAllocatingBuffer = false;
            },
            cancellationToken);
    }

    // A command across two of Kestrel's blocks is copied into one pooled array first.
    private static long AnswerSequence(ReadOnlySequence<byte> buffer, PipeWriter output, byte[] bulkReply, out int answered)
    {
        if (buffer.IsSingleSegment)
        {
            return Answer(buffer.FirstSpan, output, bulkReply, out answered);
        }

        var length = (int)Math.Min(buffer.Length, int.MaxValue);
        var copy = ArrayPool<byte>.Shared.Rent(length);
        buffer.Slice(0, length).CopyTo(copy);
        var consumed = Answer(copy.AsSpan(0, length), output, bulkReply, out answered);
        ArrayPool<byte>.Shared.Return(copy);
        return consumed;
    }

    public static RunningServer StartSockets(int port, int size)
    {
        var bulkReply = BulkReply(size);
        return BareServer.StartSockets(port, socket => ServeAsync(socket, bulkReply));
    }

    // One reply buffer per connection, refilled for each read (the previous read's replies are sent by then). Answer keeps
    // what is left after a read within MaxCommand, so the receive buffer never grows past twice that.
    private static Task ServeAsync(Socket socket, byte[] bulkReply)
    {
        var replies = new ArrayBufferWriter<byte>(16 * 1024);
        return BareServer.ServeSocketAsync(socket, 16 * 1024, (Memory<byte> received, out ReadOnlyMemory<byte> reply) =>
        {
            replies.ResetWrittenCount();
            var consumed = Answer(received.Span, replies, bulkReply, out _);
            reply = replies.WrittenMemory;
            return consumed;
        });
    }
}
