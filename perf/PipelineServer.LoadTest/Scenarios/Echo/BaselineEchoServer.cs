using System.Buffers;
using System.Buffers.Binary;
using Microsoft.AspNetCore.Connections;

namespace PipelineServer.LoadTest.Scenarios.Echo;

/// <summary>
/// The floor for framework overhead: the echo protocol as a minimal hand-written Kestrel <see cref="ConnectionDelegate"/>
/// on a default Kestrel (no PipelineServer code at all): parse every whole frame in a read, copy it to the output, flush
/// once per read.
/// </summary>
internal static class BaselineEchoServer
{
    private const int MaxPayload = 16 * 1024 * 1024;

    public static Task<RunningServer> StartAsync(CancellationToken cancellationToken) =>
        BareServer.StartKestrelAsync(0, static connection => BareServer.RespondAsync(connection, EchoWholeFrames), transport: null, cancellationToken);

    // Copies every whole frame at the front of the buffer to the output; returns the bytes they took, or -1 for a bad
    // length.
    private static long EchoWholeFrames(in ReadOnlySequence<byte> buffer, System.IO.Pipelines.PipeWriter output, out int frames)
    {
        Span<byte> header = stackalloc byte[4];
        frames = 0;
        var rest = buffer;
        while (rest.Length >= 4)
        {
            rest.Slice(0, 4).CopyTo(header);
            var length = BinaryPrimitives.ReadInt32BigEndian(header);
            if ((uint)length > MaxPayload)
            {
                return -1;
            }

            if (rest.Length < 4 + length)
            {
                break;
            }

            var frame = rest.Slice(0, 4 + length);
            foreach (var segment in frame)
            {
                output.Write(segment.Span);
            }

            frames++;
            rest = rest.Slice(frame.End);
        }

        return buffer.Length - rest.Length;
    }
}
