using System.Buffers;

namespace PipelineServer.Client;

/// <summary>Options for client socket connections.</summary>
public sealed class SocketConnectionOptions
{
    /// <summary>Disables Nagle's algorithm, so small requests go out at once. On by default.</summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>
    /// How many received bytes may wait for the application before the transport stops reading from the socket
    /// (and the peer's sends slow down). 1 MiB by default.
    /// </summary>
    public long MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// How many bytes the application may have written, not yet sent, before its flushes wait. 64 KiB by default.
    /// </summary>
    public long MaxWriteBufferSize { get; set; } = 64 * 1024;

    /// <summary>
    /// Waits for data with a zero-byte receive before renting a buffer, which saves memory on many idle connections at
    /// the cost of one more system call per read. Off by default: clients usually have few, busy connections.
    /// </summary>
    public bool WaitForDataBeforeAllocatingBuffer { get; set; }

    /// <summary>
    /// Runs the code awaiting the connection's pipes, and the connection's own send and receive loops, inline on the
    /// thread that completed the operation (a socket thread, or the thread that flushed) instead of hopping to the thread
    /// pool and an I/O queue. That saves the hops of every round trip, and it is safe only when nothing awaiting the
    /// connection blocks: a blocked continuation stalls the socket thread and every connection it serves. Off by default.
    /// Kestrel's <c>SocketTransportOptions.UnsafePreferInlineScheduling</c> is the server-side equivalent.
    /// </summary>
    public bool UnsafePreferInlineScheduling { get; set; }

    /// <summary>
    /// The pool for the connections' buffers. When <see langword="null"/> (the default), a pool of pinned 16 KiB blocks
    /// shared by all client connections: each receive can bring up to 16 KiB, and idle blocks are released over time.
    /// The pool must hand out array-backed memory; pipe segments are as large as its <see cref="MemoryPool{T}.MaxBufferSize"/>
    /// (4 KiB when that is unbounded, as for <see cref="MemoryPool{T}.Shared"/>).
    /// </summary>
    public MemoryPool<byte>? MemoryPool { get; set; }
}
