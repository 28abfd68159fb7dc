using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Client.Internal;
using PipelineServer.Protocols;

namespace PipelineServer.Client;

/// <summary>Connects <see cref="ProtocolClientPool{TRequest, TResponse}"/>s.</summary>
public static class ProtocolClientPool
{
    /// <summary>
    /// Opens <see cref="ProtocolClientPoolOptions{TRequest, TResponse}.Connections"/> connections to
    /// <paramref name="endpoint"/>, each running a <see cref="ProtocolClient{TRequest, TResponse}"/>, and keeps them
    /// open: a lost connection is reconnected in the background with the configured backoff.
    /// </summary>
    /// <typeparam name="TRequest">The request type.</typeparam>
    /// <typeparam name="TResponse">The response type; it must own its data.</typeparam>
    /// <param name="factory">The connection factory, for example from <see cref="ClientBuilder.Build"/>.</param>
    /// <param name="endpoint">The server.</param>
    /// <param name="reader">Parses responses.</param>
    /// <param name="writer">Writes requests.</param>
    /// <param name="options">Pool size, load balancing, backoff, and each connection's options.</param>
    /// <param name="cancellationToken">Cancels the initial connects.</param>
    /// <returns>The pool, every connection established.</returns>
    public static async ValueTask<ProtocolClientPool<TRequest, TResponse>> ConnectAsync<TRequest, TResponse>(
        IConnectionFactory factory,
        EndPoint endpoint,
        IMessageReader<TResponse> reader,
        IMessageWriter<TRequest> writer,
        ProtocolClientPoolOptions<TRequest, TResponse>? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        ArgumentNullException.ThrowIfNull(endpoint);
        options ??= new ProtocolClientPoolOptions<TRequest, TResponse>();
        ProtocolClient.Validate(reader, writer, options.Client);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Connections);
        ArgumentNullException.ThrowIfNull(options.ReconnectBackoff);

        var pool = new ProtocolClientPool<TRequest, TResponse>(factory, endpoint, reader, writer, options);
        await pool.StartAsync(cancellationToken).ConfigureAwait(false);
        return pool;
    }
}

/// <summary>
/// A fixed number of connections to one server, each running a <see cref="ProtocolClient{TRequest, TResponse}"/>, with
/// requests spread over them and lost connections reconnected in the background.
/// </summary>
/// <typeparam name="TRequest">The request type.</typeparam>
/// <typeparam name="TResponse">The response type.</typeparam>
/// <remarks>
/// A connection that is lost fails its in-flight requests with <see cref="ConnectionClosedException"/> (they are not
/// retried: the server may have processed them); new requests go to the other connections, or wait up to
/// <see cref="ProtocolClientPoolOptions{TRequest, TResponse}.ConnectionWaitTimeout"/> for one to come back.
/// </remarks>
public sealed class ProtocolClientPool<TRequest, TResponse> : IAsyncDisposable
{
    private readonly IConnectionFactory _factory;
    private readonly EndPoint _endpoint;
    private readonly IMessageReader<TResponse> _reader;
    private readonly IMessageWriter<TRequest> _writer;
    private readonly ProtocolClientPoolOptions<TRequest, TResponse> _options;
    private readonly ProtocolClient<TRequest, TResponse>?[] _clients;
    private readonly Task[] _monitors;
    private readonly CancellationTokenSource _disposing = new();
    private readonly Channel<TResponse>? _pushes;
    private TaskCompletionSource _reconnected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _next;
    private int _disposed;

    internal ProtocolClientPool(IConnectionFactory factory, EndPoint endpoint, IMessageReader<TResponse> reader, IMessageWriter<TRequest> writer, ProtocolClientPoolOptions<TRequest, TResponse> options)
    {
        _factory = factory;
        _endpoint = endpoint;
        _reader = reader;
        _writer = writer;
        _options = options;
        _clients = new ProtocolClient<TRequest, TResponse>?[options.Connections];
        _monitors = new Task[options.Connections];
        if (options.Client.IsPush is not null)
        {
            _pushes = Channel.CreateBounded<TResponse>(new BoundedChannelOptions(options.Client.PushBufferCapacity) { FullMode = BoundedChannelFullMode.Wait });
        }
    }

    /// <summary>How many of the pool's connections are up.</summary>
    public int ConnectedCount
    {
        get
        {
            var count = 0;
            foreach (ref var client in _clients.AsSpan())
            {
                if (Volatile.Read(ref client) is { IsConnected: true })
                {
                    count++;
                }
            }

            return count;
        }
    }

    /// <summary>Sends a request over one of the connections and waits for its response.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The response to this request.</returns>
    /// <exception cref="ConnectionClosedException">The connection carrying the request ended before the response arrived.</exception>
    /// <exception cref="TimeoutException">No response within the request timeout, or no connection came up in time.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public ValueTask<TResponse> RequestAsync(TRequest request, CancellationToken cancellationToken = default)
    {
        var client = Pick();
        if (client is not null && client.TryRequest(request, cancellationToken, out var response))
        {
            return response;
        }

        return RequestWhenConnectedAsync(request, cancellationToken);
    }

    /// <summary>Sends a message that gets no response over one of the connections.</summary>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when the transport has accepted the message.</returns>
    public async ValueTask SendAsync(TRequest message, CancellationToken cancellationToken = default)
    {
        var client = Pick() ?? await WaitForClientAsync(cancellationToken).ConfigureAwait(false);
        await client.SendAsync(message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the messages the server pushes on any of the connections, until the pool is disposed.</summary>
    /// <param name="cancellationToken">Stops the enumeration.</param>
    /// <returns>The pushed messages.</returns>
    /// <exception cref="InvalidOperationException">No <see cref="ProtocolClientOptions{TRequest, TResponse}.IsPush"/> was configured.</exception>
    public IAsyncEnumerable<TResponse> ReadPushesAsync(CancellationToken cancellationToken = default) =>
        (_pushes ?? throw new InvalidOperationException("This pool recognises no pushed messages: set ProtocolClientOptions.IsPush."))
            .Reader.ReadAllAsync(cancellationToken);

    /// <summary>Closes every connection and stops reconnecting; pending requests fail with <see cref="ConnectionClosedException"/>.</summary>
    /// <returns>A task that completes when everything is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
        for (var i = 0; i < _clients.Length; i++)
        {
            if (Volatile.Read(ref _clients[i]) is { } client)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }
        }

        foreach (var monitor in _monitors)
        {
            if (monitor is not null)
            {
                await monitor.ConfigureAwait(false);
            }
        }

        _pushes?.Writer.TryComplete();
        Interlocked.Exchange(ref _reconnected, new TaskCompletionSource()).TrySetResult();
        _disposing.Dispose();
    }

    internal async Task StartAsync(CancellationToken cancellationToken)
    {
        var connecting = new Task<ProtocolClient<TRequest, TResponse>>[_clients.Length];
        for (var i = 0; i < connecting.Length; i++)
        {
            connecting[i] = ConnectOneAsync(cancellationToken);
        }

        try
        {
            await Task.WhenAll(connecting).ConfigureAwait(false);
        }
        catch
        {
            foreach (var task in connecting)
            {
                if (task.IsCompletedSuccessfully)
                {
                    await (await task.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
                }
            }

            throw;
        }

        for (var i = 0; i < connecting.Length; i++)
        {
            var client = await connecting[i].ConfigureAwait(false);
            Volatile.Write(ref _clients[i], client);
            _monitors[i] = MonitorAsync(i, client);
        }
    }

    private async Task<ProtocolClient<TRequest, TResponse>> ConnectOneAsync(CancellationToken cancellationToken)
    {
        var connection = await _factory.ConnectAsync(_endpoint, cancellationToken).ConfigureAwait(false);
        return new ProtocolClient<TRequest, TResponse>(connection, _reader, _writer, _options.Client);
    }

    // Watches one connection; when it is lost, reconnects with backoff until it is back or the pool is disposed.
    private async Task MonitorAsync(int slot, ProtocolClient<TRequest, TResponse> client)
    {
        var token = _disposing.Token;
        var time = _options.Client.TimeProvider;
        while (true)
        {
            var forwarding = _pushes is null ? Task.CompletedTask : ForwardPushesAsync(client, token);

            // Disposing the pool ends the connection, including one that was (re)connected after the pool looked.
            using (token.UnsafeRegister(static state => ((ConnectionContext)state!).Abort(), client.Connection))
            {
                await client.Completion.ConfigureAwait(false);
            }

            Volatile.Write(ref _clients[slot], null);
            await forwarding.ConfigureAwait(false);
            await client.DisposeAsync().ConfigureAwait(false);
            if (token.IsCancellationRequested)
            {
                return;
            }

            if (_options.Logger is { } lost)
            {
                ClientLog.ConnectionLost(lost, slot, client.CloseReason?.Message ?? "closed by the server");
            }

            var attempt = 0;
            while (true)
            {
                try
                {
                    await Task.Delay(_options.ReconnectBackoff.GetDelay(attempt), time, token).ConfigureAwait(false);
                    attempt++;
                    client = await ConnectOneAsync(token).ConfigureAwait(false);
                    break;
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    if (_options.Logger is { } failed)
                    {
                        ClientLog.ReconnectFailed(failed, attempt, slot, ex.Message);
                    }
                }
            }

            Volatile.Write(ref _clients[slot], client);
            if (_options.Logger is { } back)
            {
                ClientLog.Reconnected(back, slot, attempt);
            }

            // Wake requests waiting for a connection; later waiters wait for the next one.
            Interlocked.Exchange(ref _reconnected, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }

    private async Task ForwardPushesAsync(ProtocolClient<TRequest, TResponse> client, CancellationToken token)
    {
        try
        {
            await foreach (var message in client.ReadPushesAsync(token).ConfigureAwait(false))
            {
                await _pushes!.Writer.WriteAsync(message, token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ConnectionClosedException or ConnectionResetException or ConnectionAbortedException or IOException or ProtocolException)
        {
            // The connection's end is reported through its Completion.
        }
    }

    private ProtocolClient<TRequest, TResponse>? Pick()
    {
        var clients = _clients;
        if (_options.LoadBalancing == LoadBalancing.LeastOutstanding)
        {
            ProtocolClient<TRequest, TResponse>? best = null;
            for (var i = 0; i < clients.Length; i++)
            {
                if (Volatile.Read(ref clients[i]) is { IsConnected: true } candidate
                    && (best is null || candidate.PendingRequests < best.PendingRequests))
                {
                    best = candidate;
                }
            }

            return best;
        }

        var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)clients.Length);
        for (var i = 0; i < clients.Length; i++)
        {
            var index = start + i;
            if (index >= clients.Length)
            {
                index -= clients.Length;
            }

            if (Volatile.Read(ref clients[index]) is { IsConnected: true } client)
            {
                return client;
            }
        }

        return null;
    }

    private async ValueTask<TResponse> RequestWhenConnectedAsync(TRequest request, CancellationToken cancellationToken)
    {
        while (true)
        {
            var client = await WaitForClientAsync(cancellationToken).ConfigureAwait(false);
            if (client.TryRequest(request, cancellationToken, out var response))
            {
                return await response.ConfigureAwait(false);
            }
        }
    }

    private async ValueTask<ProtocolClient<TRequest, TResponse>> WaitForClientAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectionWaitTimeout);
        while (true)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

            // Read the signal before looking, so a reconnect in between cannot be missed.
            var reconnected = Volatile.Read(ref _reconnected).Task;
            if (Pick() is { } client)
            {
                return client;
            }

            try
            {
                await reconnected.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"No connection to {_endpoint} came up within {_options.ConnectionWaitTimeout.TotalSeconds:0.###} s; reconnecting continues.");
            }
        }
    }
}
