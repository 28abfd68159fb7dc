using System.Buffers;
using System.IO.Pipelines;

namespace PipelineServer.Protocols.Internal;

// Messages written while a flush is under way. A PipeWriter may not be written while its flush is pending: a Pipe
// tolerates it, but a StreamPipeWriter (TLS, any stream) hands its segments to the stream during the flush and drops or
// reuses what is written meanwhile. So ProtocolWriter writes here instead, into arrays from the shared pool, and copies
// them into the pipe when the flush has completed. Used only under backpressure.
internal sealed class PendingWrites : IBufferWriter<byte>
{
    private const int ChunkSize = 16 * 1024;

    private readonly List<byte[]> _chunks = [];
    private readonly List<int> _used = [];

    public long Length { get; private set; }

    public void Advance(int count)
    {
        var last = _used.Count - 1;
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)(_chunks[last].Length - _used[last]), nameof(count));
        _used[last] += count;
        Length += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => Current(sizeHint);

    public Span<byte> GetSpan(int sizeHint = 0) => Current(sizeHint).Span;

    // Hands everything to the pipe, in order, and empties this.
    public void CopyTo(PipeWriter output)
    {
        for (var i = 0; i < _chunks.Count; i++)
        {
            output.Write(_chunks[i].AsSpan(0, _used[i]));
        }

        Clear();
    }

    public void Clear()
    {
        foreach (var chunk in _chunks)
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        _chunks.Clear();
        _used.Clear();
        Length = 0;
    }

    private Memory<byte> Current(int sizeHint)
    {
        var wanted = Math.Max(sizeHint, 1);
        var last = _chunks.Count - 1;
        if (last < 0 || _chunks[last].Length - _used[last] < wanted)
        {
            _chunks.Add(ArrayPool<byte>.Shared.Rent(Math.Max(wanted, ChunkSize)));
            _used.Add(0);
            last++;
        }

        return _chunks[last].AsMemory(_used[last]);
    }
}
