using System.Text;
using CsCheck;
using PipelineServer.Protocols;
using PipelineServer.Resp;
using PipelineServer.Testing;

namespace PipelineServer.Tests.Resp;

/// <summary>
/// Property tests for the RESP codec: random value trees and random commands, written by <see cref="RespWriter"/>,
/// read back the same whatever the segmentation of the bytes (1 to 64-byte segments) and however they arrive.
/// </summary>
public class RespPropertyTests
{
    private const int Iterations = 300;

    // A random tree (seeded, so CsCheck can replay a failure) and random segment sizes.
    private static readonly Gen<(int Seed, int[] Chunks)> s_cases = Gen.Select(Gen.Int, Gen.Int[1, 64].Array[1, 30]);

    [Fact]
    public void ValuesRoundTripWhateverTheSegmentation() =>
        s_cases.Sample(static c =>
        {
            var random = new Random(c.Seed);
            var output = new ArrayBufferWriter<byte>();
            var expected = new StringBuilder();
            var count = random.Next(1, 5);
            for (var i = 0; i < count; i++)
            {
                WriteRandomValue(random, output, expected, depth: 0);
                expected.Append('|');
            }

            // Parsed from one segmented buffer, and received in arrivals the size of the segments (the reader resuming
            // from its per-connection state).
            foreach (var values in new[] { ReadAll(new RespValueReader(), output.WrittenMemory, c.Chunks), ReadArrivals(new RespValueReader(), output.WrittenMemory, c.Chunks, static v => v.ToOwned()) })
            {
                var actual = new StringBuilder();
                foreach (var value in values)
                {
                    Describe(value, actual);
                    actual.Append('|');
                }

                Assert.Equal(expected.ToString(), actual.ToString());
            }
        }, iter: Iterations);

    [Fact]
    public void CommandsRoundTripWhateverTheSegmentation() =>
        s_cases.Sample(static c =>
        {
            var random = new Random(c.Seed);
            var output = new ArrayBufferWriter<byte>();
            var expected = new List<string[]>();
            var count = random.Next(1, 6);
            for (var i = 0; i < count; i++)
            {
                var arguments = new string[random.Next(1, 6)];
                RespWriter.WriteAggregateHeader(output, RespType.Array, arguments.Length, 2);
                for (var a = 0; a < arguments.Length; a++)
                {
                    var bytes = RandomBytes(random, 40);
                    RespWriter.WriteBulkString(output, bytes);
                    arguments[a] = Convert.ToHexString(bytes);
                }

                expected.Add(arguments);
            }

            static string[] Copy(RespCommand command)
            {
                var arguments = new string[command.Count];
                for (var a = 0; a < command.Count; a++)
                {
                    arguments[a] = Convert.ToHexString(command[a].ToArray());
                }

                return arguments;
            }

            Assert.Equal(expected, ReadAll(new RespCommandReader(), output.WrittenMemory, c.Chunks, Copy));
            Assert.Equal(expected, ReadArrivals(new RespCommandReader(), output.WrittenMemory, c.Chunks, Copy));
        }, iter: Iterations);

    private static List<RespValue> ReadAll(RespValueReader reader, ReadOnlyMemory<byte> bytes, int[] chunks) =>
        ReadAll(reader, bytes, chunks, static value => value.ToOwned());

    // Parses every message from a sequence cut into the given segment sizes (repeated to the end), as a protocol reader
    // would: resuming from `consumed` each time, and asking for more data when a message is incomplete.
    private static List<TResult> ReadAll<TMessage, TResult>(IMessageReader<TMessage> reader, ReadOnlyMemory<byte> bytes, int[] chunks, Func<TMessage, TResult> copy)
    {
        var splits = new List<int>();
        for (int at = 0, i = 0; ; i++)
        {
            at += chunks[i % chunks.Length];
            if (at >= bytes.Length)
            {
                break;
            }

            splits.Add(at);
        }

        var input = TestSequence.Split(bytes, [.. splits]);
        var results = new List<TResult>();
        while (!input.IsEmpty)
        {
            SequencePosition consumed = input.Start, examined = input.Start;
            Assert.True(reader.TryParseMessage(input, ref consumed, ref examined, out var message), "A whole message was not recognised.");
            results.Add(copy(message));
            input = input.Slice(consumed);
        }

        return results;
    }

    // Receives the bytes through a pipe and ProtocolReader in arrivals of the given sizes (repeated to the end), as a
    // connection does.
    private static List<TResult> ReadArrivals<TMessage, TResult>(IMessageReader<TMessage> reader, ReadOnlyMemory<byte> bytes, int[] chunks, Func<TMessage, TResult> copy)
    {
        using var embedded = new EmbeddedMessageReader<TMessage>(reader, blockSize: 16);
        var results = new List<TResult>();
        for (int offset = 0, i = 0; offset < bytes.Length; i++)
        {
            var size = Math.Min(chunks[i % chunks.Length], bytes.Length - offset);
            embedded.WriteInbound(bytes.Span.Slice(offset, size));
            offset += size;
            results.AddRange(embedded.ReadAll(copy));
        }

        embedded.CompleteInbound();
        results.AddRange(embedded.ReadAll(copy));
        Assert.True(embedded.IsCompleted);
        return results;
    }

    private static byte[] RandomBytes(Random random, int max)
    {
        var bytes = new byte[random.Next(0, max)];
        random.NextBytes(bytes);
        return bytes;
    }

    private static string Letters(Random random)
    {
        var text = new char[random.Next(0, 12)];
        for (var i = 0; i < text.Length; i++)
        {
            text[i] = (char)random.Next('a', 'z' + 1);
        }

        return new string(text);
    }

    private static void WriteRandomValue(Random random, ArrayBufferWriter<byte> output, StringBuilder expected, int depth)
    {
        var kind = random.Next(depth < 4 ? 12 : 8);
        switch (kind)
        {
            case 0:
                var simple = Letters(random);
                RespWriter.WriteSimpleString(output, Encoding.ASCII.GetBytes(simple));
                expected.Append("+").Append(simple);
                break;
            case 1:
                var error = "ERR " + Letters(random);
                RespWriter.WriteError(output, error);
                expected.Append("-").Append(error);
                break;
            case 2:
                var integer = random.NextInt64(long.MinValue, long.MaxValue);
                RespWriter.WriteInteger(output, integer);
                expected.Append(":").Append(integer);
                break;
            case 3:
                var bulk = RandomBytes(random, 100);
                RespWriter.WriteBulkString(output, bulk);
                expected.Append("$").Append(Convert.ToHexString(bulk));
                break;
            case 4:
                RespWriter.WriteNull(output, 3);
                expected.Append("_");
                break;
            case 5:
                var number = Math.Round((random.NextDouble() - 0.5) * 1e6, 3);
                RespWriter.WriteDouble(output, number, 3);
                expected.Append(",").Append(number.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
                break;
            case 6:
                var flag = random.Next(2) == 1;
                RespWriter.WriteBoolean(output, flag, 3);
                expected.Append("#").Append(flag);
                break;
            case 7:
                RespWriter.WriteNull(output, 2);
                expected.Append("_");
                break;
            default:
                var type = (kind - 8) switch { 0 => RespType.Array, 1 => RespType.Set, 2 => RespType.Push, _ => RespType.Map };
                var count = random.Next(0, 4);
                RespWriter.WriteAggregateHeader(output, type, count, 3);
                expected.Append((char)type).Append(count).Append('[');
                for (var i = 0; i < (type == RespType.Map ? count * 2 : count); i++)
                {
                    WriteRandomValue(random, output, expected, depth + 1);
                    expected.Append(';');
                }

                expected.Append(']');
                break;
        }
    }

    private static void Describe(RespValue value, StringBuilder text)
    {
        switch (value.Type)
        {
            case RespType.SimpleString:
                text.Append("+").Append(value.GetString());
                break;
            case RespType.SimpleError:
                text.Append("-").Append(value.GetString());
                break;
            case RespType.Integer:
                text.Append(":").Append(value.GetInteger());
                break;
            case RespType.BulkString when value.IsNull:
            case RespType.Null:
                text.Append("_");
                break;
            case RespType.BulkString:
                text.Append("$").Append(Convert.ToHexString(value.Payload.ToArray()));
                break;
            case RespType.Double:
                text.Append(",").Append(value.GetDouble().ToString("R", System.Globalization.CultureInfo.InvariantCulture));
                break;
            case RespType.Boolean:
                text.Append("#").Append(value.GetBoolean());
                break;
            case RespType.Array or RespType.Set or RespType.Push or RespType.Map:
                text.Append((char)value.Type).Append(value.Length).Append('[');
                foreach (var element in value.EnumerateElements())
                {
                    Describe(element, text);
                    text.Append(';');
                }

                text.Append(']');
                break;
            default:
                text.Append('?').Append(value.Type);
                break;
        }
    }
}
