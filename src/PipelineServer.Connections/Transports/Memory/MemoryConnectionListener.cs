using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;

namespace PipelineServer.Transports.Memory;

internal sealed class MemoryConnectionListener : IConnectionListener
{
    private readonly MemoryTransport _transport;
    private readonly Channel<MemoryConnectionContext> _pending =
        Channel.CreateUnbounded<MemoryConnectionContext>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });

    public MemoryConnectionListener(MemoryTransport transport, MemoryEndPoint endPoint)
    {
        _transport = transport;
        EndPoint = endPoint;
    }

    public EndPoint EndPoint { get; }

    public bool TryEnqueue(MemoryConnectionContext connection) => _pending.Writer.TryWrite(connection);

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            while (await _pending.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (_pending.Reader.TryRead(out var connection))
                {
                    return connection;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        // Unbound: Kestrel's accept loop stops on null.
        return null;
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        _transport.Remove(this);
        _pending.Writer.TryComplete();
        return default;
    }

    public ValueTask DisposeAsync()
    {
        _transport.Remove(this);
        _pending.Writer.TryComplete();
        // Connections queued but never accepted are refused the way a closing listener resets them.
        while (_pending.Reader.TryRead(out var connection))
        {
            connection.Abort(new ConnectionAbortedException("The listener was closed before the connection was accepted."));
        }

        return default;
    }
}
