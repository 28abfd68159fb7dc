using Microsoft.AspNetCore.Connections;

namespace PipelineServer.Client.Internal;

// The life of one client connection with middleware: Run starts the chain; Attach (called by the terminal) publishes
// the connection as middleware left it and waits for the caller to release it; DisposeAsync releases it, waits for the
// chain to unwind, and closes the transport connection.
internal sealed class ClientSession(ConnectionContext raw) : IAsyncDisposable
{
    private readonly TaskCompletionSource<ConnectionContext> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _running = Task.CompletedTask;
    private int _disposed;

    public Task<ConnectionContext> Ready => _ready.Task;

    public ConnectionContext Raw => raw;

    public void Run(ConnectionDelegate pipeline) => _running = RunAsync(pipeline);

    public Task Attach(ConnectionContext connection)
    {
        _ready.TrySetResult(new ClientConnectionContext(connection, this));
        return _released.Task;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _released.TrySetResult();
        try
        {
            await _running.ConfigureAwait(false);
        }
        finally
        {
            await raw.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task RunAsync(ConnectionDelegate pipeline)
    {
        try
        {
            await pipeline(raw).ConfigureAwait(false);
            // A middleware that returned without calling the next delegate ends the connection before it was ready.
            _ready.TrySetException(new InvalidOperationException("The connection middleware completed without passing the connection on."));
        }
        catch (Exception ex)
        {
            _ready.TrySetException(ex);
        }
    }
}
