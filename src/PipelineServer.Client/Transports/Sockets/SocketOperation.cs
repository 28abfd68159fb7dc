using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace PipelineServer.Client.Transports.Sockets;

// One reusable socket operation (a receive or a send) awaitable without allocation: a SocketAsyncEventArgs that is
// also the IValueTaskSource of the ValueTask handed to the awaiting loop. One per direction per connection.
internal sealed class SocketOperation : SocketAsyncEventArgs, IValueTaskSource<int>
{
    private ManualResetValueTaskSourceCore<int> _source;
    private List<ArraySegment<byte>>? _bufferList;

    public SocketOperation()
        : base(unsafeSuppressExecutionContextFlow: true)
    {
        // The socket engine already completes on the thread pool; continuing there avoids a second hop.
        _source.RunContinuationsAsynchronously = false;
    }

    public ValueTask<int> ReceiveAsync(Socket socket, Memory<byte> buffer)
    {
        _source.Reset();
        if (BufferList is not null)
        {
            BufferList = null;
        }

        SetBuffer(buffer);
        return socket.ReceiveAsync(this) ? new ValueTask<int>(this, _source.Version) : CompletedSynchronously();
    }

    public ValueTask<int> SendAsync(Socket socket, in ReadOnlySequence<byte> buffers)
    {
        _source.Reset();
        if (buffers.IsSingleSegment)
        {
            if (BufferList is not null)
            {
                BufferList = null;
            }

            SetBuffer(MemoryMarshal.AsMemory(buffers.First));
        }
        else
        {
            // Gather every segment into one send (one system call for a whole batch).
            _bufferList ??= new List<ArraySegment<byte>>(8);
            _bufferList.Clear();
            foreach (var segment in buffers)
            {
                if (!MemoryMarshal.TryGetArray(segment, out var array))
                {
                    throw new NotSupportedException("The socket transport sends from array-backed memory only; use an array-based memory pool.");
                }

                _bufferList.Add(array);
            }

            if (Buffer is not null || MemoryBuffer.Length > 0)
            {
                SetBuffer(null, 0, 0);
            }

            BufferList = _bufferList;
        }

        return socket.SendAsync(this) ? new ValueTask<int>(this, _source.Version) : CompletedSynchronously();
    }

    public int GetResult(short token) => _source.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _source.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);

    protected override void OnCompleted(SocketAsyncEventArgs e)
    {
        if (SocketError == SocketError.Success)
        {
            _source.SetResult(BytesTransferred);
        }
        else
        {
            _source.SetException(new SocketException((int)SocketError));
        }
    }

    private ValueTask<int> CompletedSynchronously() =>
        SocketError == SocketError.Success
            ? new ValueTask<int>(BytesTransferred)
            : ValueTask.FromException<int>(new SocketException((int)SocketError));
}
