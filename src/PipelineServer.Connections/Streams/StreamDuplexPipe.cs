using System.Buffers;
using System.IO.Pipelines;

namespace PipelineServer.Streams;

/// <summary>Turns a <see cref="Stream"/> (for example an <see cref="System.Net.Security.SslStream"/>) into connection pipes.</summary>
public static class StreamDuplexPipe
{
    /// <summary>Creates pipes that read from and write to <paramref name="stream"/>.</summary>
    /// <param name="stream">A readable, writable stream.</param>
    /// <param name="leaveOpen">Whether completing both pipes leaves the stream open (otherwise it is disposed).</param>
    /// <param name="pool">The memory pool for the pipes' buffers; the shared pool when <see langword="null"/>.</param>
    /// <returns>The pipes: <see cref="IDuplexPipe.Input"/> reads the stream, <see cref="IDuplexPipe.Output"/> writes it.</returns>
    public static IDuplexPipe Create(Stream stream, bool leaveOpen = false, MemoryPool<byte>? pool = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(pool, leaveOpen: leaveOpen));
        var writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(pool, leaveOpen: leaveOpen));
        return new Internal.DuplexPipe(reader, writer);
    }
}
