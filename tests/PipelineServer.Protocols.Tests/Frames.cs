using PipelineServer.Testing;

namespace PipelineServer.Protocols.Tests;

internal static class Frames
{
    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    public static byte[] Payload(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(static p => p).ToArray();

    /// <summary>Runs the codec directly over a (possibly multi-segment) sequence, the way ProtocolReader slices it.</summary>
    public static List<byte[]> ParseDirect<TMessage>(IMessageReader<TMessage> reader, ReadOnlySequence<byte> input, Func<TMessage, byte[]> copy, out long leftover)
    {
        var frames = new List<byte[]>();
        var remaining = input;
        while (!remaining.IsEmpty)
        {
            var consumed = remaining.Start;
            var examined = remaining.End;
            if (!reader.TryParseMessage(remaining, ref consumed, ref examined, out var message))
            {
                break;
            }

            frames.Add(copy(message!));
            remaining = remaining.Slice(consumed);
        }

        leftover = remaining.Length;
        return frames;
    }

    public static List<byte[]> ParseDirect(IMessageReader<ReadOnlySequence<byte>> reader, ReadOnlySequence<byte> input, out long leftover) =>
        ParseDirect(reader, input, static m => m.ToArray(), out leftover);

    /// <summary>Every way to cut the data into two segments, then into three.</summary>
    public static IEnumerable<ReadOnlySequence<byte>> EverySplit(byte[] data)
    {
        for (var i = 0; i <= data.Length; i++)
        {
            yield return TestSequence.Split(data, i);
        }

        for (var i = 0; i <= data.Length; i++)
        {
            for (var j = i; j <= data.Length; j++)
            {
                yield return TestSequence.Split(data, i, j);
            }
        }
    }

    /// <summary>Asserts that every 2- and 3-segment split of the stream gives exactly the expected frames, nothing left over.</summary>
    public static void AssertSegmentationInvariant(IMessageReader<ReadOnlySequence<byte>> reader, byte[] stream, IReadOnlyList<byte[]> expected)
    {
        var count = 0;
        foreach (var split in EverySplit(stream))
        {
            var frames = ParseDirect(reader, split, out var leftover);
            Assert.Equal(0, leftover);
            Assert.Equal(expected.Count, frames.Count);
            for (var i = 0; i < expected.Count; i++)
            {
                Assert.Equal(expected[i], frames[i]);
            }

            count++;
        }

        Assert.True(count > stream.Length, "every split was tried");
    }

    /// <summary>Feeds the stream one byte per arrival through a real pipe and ProtocolReader, with 7-byte pipe blocks.</summary>
    public static List<byte[]> StreamByteByByte(IMessageReader<ReadOnlySequence<byte>> reader, byte[] stream, int maxMessageSize = ProtocolDefaults.MaxMessageSize)
    {
        using var embedded = new EmbeddedMessageReader<ReadOnlySequence<byte>>(reader, maxMessageSize, blockSize: 7);
        var frames = new List<byte[]>();
        foreach (var b in stream)
        {
            embedded.WriteInbound([b]);
            frames.AddRange(embedded.ReadAll(static f => f.ToArray()));
        }

        embedded.CompleteInbound();
        frames.AddRange(embedded.ReadAll(static f => f.ToArray()));
        Assert.True(embedded.IsCompleted);
        return frames;
    }
}
