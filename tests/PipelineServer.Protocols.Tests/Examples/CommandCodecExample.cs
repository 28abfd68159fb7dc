using System.Text;
using PipelineServer.Testing;

namespace PipelineServer.Protocols.Tests.Examples;

// The custom codec example of docs/protocols.md, compiled and tested here so that the documentation cannot rot.

/// <summary>A command line such as <c>SET color blue</c>: the verb and the rest, both slices of the receive buffer.</summary>
public readonly record struct Command(ReadOnlySequence<byte> Verb, ReadOnlySequence<byte> Arguments);

/// <summary>Parses <c>VERB arguments\r\n</c> lines without copying them.</summary>
public sealed class CommandReader : IMessageReader<Command>
{
    public const int MaxLineLength = 4096;

    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out Command message)
    {
        var reader = new SequenceReader<byte>(input);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8))
        {
            // No line end yet. Refuse to buffer past the limit; otherwise leave `examined` at the end and wait.
            if (input.Length >= MaxLineLength)
            {
                throw new ProtocolException(ProtocolErrorKind.MessageTooLarge, $"A command line is longer than {MaxLineLength} bytes.");
            }

            message = default;
            return false;
        }

        if (line.Length + 2 > MaxLineLength)
        {
            throw new ProtocolException(ProtocolErrorKind.MessageTooLarge, $"A command line is longer than {MaxLineLength} bytes.");
        }

        var words = new SequenceReader<byte>(line);
        if (!words.TryReadTo(out ReadOnlySequence<byte> verb, (byte)' '))
        {
            verb = line;
            words.AdvanceToEnd();
        }

        if (verb.IsEmpty)
        {
            throw new ProtocolException(ProtocolErrorKind.Malformed, "A command line must start with a verb.");
        }

        message = new Command(verb, words.UnreadSequence);
        consumed = reader.Position;
        examined = reader.Position;
        return true;
    }
}

public class CommandCodecExampleTests
{
    private static string Text(ReadOnlySequence<byte> bytes) => Encoding.ASCII.GetString(bytes);

    [Fact]
    public void ParsesCommandsWhateverTheSegmentation()
    {
        var stream = Encoding.ASCII.GetBytes("SET color blue\r\nPING\r\nGET color\r\n");
        string[] expected = ["SET|color blue", "PING|", "GET|color"];

        foreach (var split in Frames.EverySplit(stream))
        {
            var commands = Frames.ParseDirect(new CommandReader(), split, c => Encoding.ASCII.GetBytes(Text(c.Verb) + "|" + Text(c.Arguments)), out var leftover);
            Assert.Equal(0, leftover);
            Assert.Equal(expected, commands.Select(static c => Encoding.ASCII.GetString(c)));
        }
    }

    [Fact]
    public void RejectsAnEmptyVerbAndAnOverlongLine()
    {
        using var empty = new EmbeddedMessageReader<Command>(new CommandReader());
        empty.WriteInbound(" x\r\n"u8);
        Assert.Equal(ProtocolErrorKind.Malformed, Assert.Throws<ProtocolException>(() => empty.TryRead(static c => 0, out _)).Kind);

        using var overlong = new EmbeddedMessageReader<Command>(new CommandReader());
        overlong.WriteInbound(new byte[CommandReader.MaxLineLength]);
        Assert.Equal(ProtocolErrorKind.MessageTooLarge, Assert.Throws<ProtocolException>(() => overlong.TryRead(static c => 0, out _)).Kind);
    }
}
