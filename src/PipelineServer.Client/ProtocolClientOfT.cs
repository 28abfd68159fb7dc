using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Client.Internal;
using PipelineServer.Protocols;

namespace PipelineServer.Client;

/// <summary>
/// Pipelined request/response over one connection, with the same codecs the server uses: many requests in flight at
/// once, from any number of threads, written in batches.
/// </summary>
/// <typeparam name="TRequest">The request type.</typeparam>
/// <typeparam name="TResponse">
/// The response type. Responses are handed to other threads, so they must own their data: when the codec yields slices
/// of the receive buffer, map them with <see cref="MessageReaderExtensions.Select{TSource, TResult}"/>
/// (<c>reader.Select(static frame =&gt; frame.ToArray())</c>).
/// </typeparam>
/// <remarks>
/// <para>
/// <b>Ordered mode</b> (the default): responses come back in request order, as in Redis or the echo protocol.
/// <b>Correlated mode</b>: responses carry the id of the request they answer and may come back in any order (set
/// <see cref="ProtocolClientOptions{TRequest, TResponse}.RequestId"/> and
/// <see cref="ProtocolClientOptions{TRequest, TResponse}.ResponseId"/>). Server-pushed messages, recognised by
/// <see cref="ProtocolClientOptions{TRequest, TResponse}.IsPush"/>, are read with <see cref="ReadPushesAsync"/>.
/// </para>
/// <para>
/// <b>Failures.</b> A request is either answered with its own response or fails with an exception, never silently lost:
/// <see cref="OperationCanceledException"/> when its token is cancelled, <see cref="TimeoutException"/> after the
/// request timeout, <see cref="ConnectionClosedException"/> when the connection ends first (the request may or may not
/// have reached the server). A cancelled or timed-out request keeps its place: its response, when it comes, is read and
/// dropped, so the connection stays in step. A response nobody asked for (in ordered mode) means the connection is out
/// of step with the server: it is closed and every pending request fails.
/// </para>
/// </remarks>
public sealed class ProtocolClient<TRequest, TResponse> : IAsyncDisposable, IPendingRequestOwner<TResponse>
{
    private const int MaxPooledRequests = 4096;

    private readonly ConnectionContext _connection;
    private readonly IMessageReader<TResponse> _codecReader;
    private readonly IMessageWriter<TRequest> _codecWriter;
    private readonly ProtocolReader _reader;
    private readonly ProtocolWriter _writer;
    private readonly Func<TResponse, bool>? _isPush;
    private readonly Func<TRequest, long>? _requestId;
    private readonly Func<TResponse, long>? _responseId;
    private readonly TimeSpan _requestTimeout;
    private readonly bool _runContinuationsAsynchronously;
    private readonly TimeProvider _time;
    private readonly Channel<TResponse>? _pushes;
    private readonly ConcurrentQueue<PendingRequest<TResponse>> _pool = new();
    private readonly Lock _sync = new();
    private readonly Queue<PendingRequest<TResponse>> _ordered = new();
    private readonly Dictionary<long, PendingRequest<TResponse>> _correlated = [];
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2213:Disposable fields should be disposed", Justification = "Disposed in Close, which every path to the end of the connection runs.")]
    private readonly ITimer? _timeoutTimer;
    private Exception? _closeReason;
    private bool _closed;
    private int _pooled;
    private int _pending;
    private long _unmatched;
    private int _disposed;
    private int _dispatchingThread;
    private bool _flushDeferred;

    internal ProtocolClient(ConnectionContext connection, IMessageReader<TResponse> reader, IMessageWriter<TRequest> writer, ProtocolClientOptions<TRequest, TResponse> options)
    {
        _connection = connection;
        _codecReader = reader;
        _codecWriter = writer;
        _reader = new ProtocolReader(connection.Transport.Input, options.MaxResponseSize);
        _writer = new ProtocolWriter(connection.Transport.Output);
        _isPush = options.IsPush;
        _requestId = options.RequestId;
        _responseId = options.ResponseId;
        _requestTimeout = options.RequestTimeout;
        _runContinuationsAsynchronously = options.RunContinuationsAsynchronously;
        _time = options.TimeProvider;
        if (_isPush is not null)
        {
            _pushes = Channel.CreateBounded<TResponse>(new BoundedChannelOptions(options.PushBufferCapacity)
            {
                FullMode = BoundedChannelFullMode.Wait,
                SingleWriter = true,
            });
        }

        if (_requestTimeout != Timeout.InfiniteTimeSpan)
        {
            var period = TimeSpan.FromTicks(Math.Clamp(_requestTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));
            _timeoutTimer = _time.CreateTimer(static state => ((ProtocolClient<TRequest, TResponse>)state!).ExpireRequests(), this, period, period);
        }

        _ = ReadLoopAsync();
    }

    /// <summary>The connection the client runs on.</summary>
    public ConnectionContext Connection => _connection;

    /// <summary><see langword="true"/> until the connection has ended.</summary>
    public bool IsConnected => !Volatile.Read(ref _closed);

    /// <summary>Requests written and not yet answered (or failed).</summary>
    public int PendingRequests => Volatile.Read(ref _pending);

    /// <summary>Responses that matched no waiting request (in correlated mode: late answers to cancelled or timed-out requests) and were dropped.</summary>
    public long UnmatchedResponses => Interlocked.Read(ref _unmatched);

    /// <summary>Completes when the connection has ended and every pending request has been failed.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Why the connection ended: <see langword="null"/> for a clean close, else the error.</summary>
    public Exception? CloseReason
    {
        get
        {
            lock (_sync)
            {
                return _closeReason;
            }
        }
    }

    /// <summary>Sends a request and waits for its response.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the wait; the request may still reach the server, whose response is then dropped.</param>
    /// <returns>The response to this request.</returns>
    /// <exception cref="ConnectionClosedException">The connection ended before the response arrived.</exception>
    /// <exception cref="TimeoutException">No response within the request timeout.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public ValueTask<TResponse> RequestAsync(TRequest request, CancellationToken cancellationToken = default)
    {
        if (!TryRequest(request, cancellationToken, out var response))
        {
            return ValueTask.FromException<TResponse>(CreateClosedException());
        }

        return response;
    }

    /// <summary>Sends a message that gets no response (one way).</summary>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancels the wait for the transport to accept it.</param>
    /// <returns>A task that completes when the transport has accepted the message.</returns>
    /// <exception cref="ConnectionClosedException">The connection has ended.</exception>
    public ValueTask SendAsync(TRequest message, CancellationToken cancellationToken = default)
    {
        lock (_sync)
        {
            if (_closed)
            {
                return ValueTask.FromException(CreateClosedException());
            }

            _writer.Write(_codecWriter, message);
        }

        return _writer.FlushAsync(cancellationToken);
    }

    /// <summary>Reads the messages the server pushes, until the connection ends.</summary>
    /// <param name="cancellationToken">Stops the enumeration.</param>
    /// <returns>The pushed messages, in arrival order.</returns>
    /// <exception cref="InvalidOperationException">No <see cref="ProtocolClientOptions{TRequest, TResponse}.IsPush"/> was configured.</exception>
    public IAsyncEnumerable<TResponse> ReadPushesAsync(CancellationToken cancellationToken = default) =>
        (_pushes ?? throw new InvalidOperationException("This client recognises no pushed messages: set ProtocolClientOptions.IsPush."))
            .Reader.ReadAllAsync(cancellationToken);

    /// <summary>Closes the connection: pending requests fail with <see cref="ConnectionClosedException"/>.</summary>
    /// <returns>A task that completes when the connection is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            await _completion.Task.ConfigureAwait(false);
            return;
        }

        _writer.Complete();
        _connection.Transport.Input.CancelPendingRead();
        await _completion.Task.ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    // False only when the connection had already ended, before anything was written: the request can safely go elsewhere.
    internal bool TryRequest(TRequest request, CancellationToken cancellationToken, out ValueTask<TResponse> response)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            response = ValueTask.FromCanceled<TResponse>(cancellationToken);
            return true;
        }

        var pending = Rent();
        lock (_sync)
        {
            if (_closed)
            {
                Return(pending);
                response = default;
                return false;
            }

            var id = 0L;
            if (_requestId is not null)
            {
                id = _requestId(request);
                if (_correlated.ContainsKey(id))
                {
                    Return(pending);
                    response = ValueTask.FromException<TResponse>(new ArgumentException($"A request with id {id} is already waiting for its response.", nameof(request)));
                    return true;
                }
            }

            try
            {
                // Written before it is registered: under the lock, so the wire order is the registration order, and the
                // read loop (which also takes the lock) cannot see the response first.
                _writer.Write(_codecWriter, request);
            }
            catch (ConnectionClosedException)
            {
                // Nothing was written: the caller may send it elsewhere.
                Return(pending);
                MarkLost();
                response = default;
                return false;
            }
            catch (Exception ex)
            {
                Return(pending);
                response = ValueTask.FromException<TResponse>(ex);
                return true;
            }

            pending.Start(id, _time.GetTimestamp());
            if (_requestId is not null)
            {
                _correlated.Add(id, pending);
            }
            else
            {
                _ordered.Enqueue(pending);
            }

            _pending++;
        }

        pending.CancelOn(cancellationToken);

        if (_dispatchingThread == Environment.CurrentManagedThreadId)
        {
            // Called from a continuation running inline on the read loop: the loop flushes once when it has dispatched
            // every response it already has, so requests made in response to a batch leave in one batch.
            _flushDeferred = true;
            response = pending.Task;
            return true;
        }

        ValueTask flush;
        try
        {
            flush = _writer.FlushAsync();
        }
        catch (Exception ex)
        {
            if (ex is ConnectionClosedException)
            {
                MarkLost();
            }

            pending.TrySetException(ex);
            response = pending.Task;
            return true;
        }

        response = flush.IsCompletedSuccessfully ? pending.Task : AwaitFlushAsync(flush, pending);
        return true;
    }

    void IPendingRequestOwner<TResponse>.OnCanceled(PendingRequest<TResponse> request, CancellationToken cancellationToken)
    {
        if (_requestId is not null)
        {
            // Correlated: forget it now; a late response carries an id nobody waits for and is dropped.
            lock (_sync)
            {
                if (!_correlated.TryGetValue(request.Id, out var registered) || !ReferenceEquals(registered, request))
                {
                    return;
                }

                _correlated.Remove(request.Id);
                _pending--;
            }

            request.TrySetException(new OperationCanceledException(cancellationToken));
            request.Release();
            return;
        }

        // Ordered: it keeps its place in the queue, so its response is recognised and dropped.
        request.TrySetException(new OperationCanceledException(cancellationToken));
    }

    void IPendingRequestOwner<TResponse>.Return(PendingRequest<TResponse> request) => Return(request);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<TResponse> AwaitFlushAsync(ValueTask flush, PendingRequest<TResponse> pending)
    {
        try
        {
            await flush.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            pending.TrySetException(ex);
        }

        return await pending.Task.ConfigureAwait(false);
    }

    private async Task ReadLoopAsync()
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                if (!_reader.TryRead(_codecReader, out var result))
                {
                    // The batch of responses already received is done: send, in one flush, the requests that callers
                    // running on this loop (inline continuations) wrote meanwhile.
                    if (_flushDeferred)
                    {
                        _flushDeferred = false;
                        await FlushDeferredAsync().ConfigureAwait(false);
                    }

                    // Awaited here rather than through _reader.ReadAsync: one resumed state machine per batch, not two.
                    while (true)
                    {
                        var readResult = await _reader.WaitForDataAsync().ConfigureAwait(false);
                        if (_reader.TryReadFrom(_codecReader, readResult, out result))
                        {
                            break;
                        }
                    }
                }

                if (result.IsCompleted)
                {
                    break;
                }

                if (result.IsCanceled)
                {
                    if (Volatile.Read(ref _disposed) != 0)
                    {
                        break;
                    }

                    continue;
                }

                var message = result.Message;
                _reader.Advance();
                if (_pushes is not null && _isPush!(message))
                {
                    await _pushes.Writer.WriteAsync(message).ConfigureAwait(false);
                    continue;
                }

                _dispatchingThread = Environment.CurrentManagedThreadId;
                try
                {
                    Dispatch(message);
                }
                finally
                {
                    _dispatchingThread = 0;
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            Close(error);
        }
    }

    private async ValueTask FlushDeferredAsync()
    {
        try
        {
            await _writer.FlushAsync().ConfigureAwait(false);
        }
        catch (ConnectionClosedException)
        {
            // The read loop learns of the end of the connection from its own reads.
        }
    }

    private void Dispatch(TResponse message)
    {
        PendingRequest<TResponse>? pending;
        lock (_sync)
        {
            if (_responseId is not null)
            {
                if (!_correlated.Remove(_responseId(message), out pending))
                {
                    _unmatched++;
                    return;
                }
            }
            else if (!_ordered.TryDequeue(out pending))
            {
                throw new ProtocolException(ProtocolErrorKind.Malformed, "A response arrived while no request was waiting for one: the connection is out of step with the server.");
            }

            _pending--;
        }

        // A cancelled or timed-out request's response is dropped here.
        pending.TrySetResult(message);
        pending.Release();
    }

    // Collects the expired requests under the lock and fails them after releasing it: a continuation that runs inline
    // (RunContinuationsAsynchronously = false) may send again on this client, which must find neither the lock held nor
    // the pending list being walked (ProtocolClientTests.AContinuationOfAnExpiredRequestCanSendAgainOnTheSameClient).
    private void ExpireRequests()
    {
        var now = _time.GetTimestamp();
        List<PendingRequest<TResponse>>? expired = null;
        lock (_sync)
        {
            if (_requestId is null)
            {
                // Oldest first: stop at the first request still within its time.
                foreach (var pending in _ordered)
                {
                    if (_time.GetElapsedTime(pending.StartedAt, now) < _requestTimeout)
                    {
                        break;
                    }

                    if (!pending.IsCompleted)
                    {
                        // It keeps its place (its response will be dropped), so the connection may release it as soon as
                        // the lock is free: hold it until it has been failed.
                        pending.Retain();
                        (expired ??= []).Add(pending);
                    }
                }
            }
            else
            {
                foreach (var pending in _correlated.Values)
                {
                    if (_time.GetElapsedTime(pending.StartedAt, now) >= _requestTimeout)
                    {
                        (expired ??= []).Add(pending);
                    }
                }

                if (expired is not null)
                {
                    // Forgotten now, like a cancelled one: the connection's share passes to this method.
                    foreach (var pending in expired)
                    {
                        _correlated.Remove(pending.Id);
                        _pending--;
                    }
                }
            }
        }

        if (expired is null)
        {
            return;
        }

        foreach (var pending in expired)
        {
            pending.TrySetException(CreateTimeoutException());
            pending.Release();
        }
    }

    // The writer found the peer gone. Take no more requests, and end the connection now rather than when the read loop
    // notices, so that a pool sends the next request elsewhere at once.
    private void MarkLost()
    {
        lock (_sync)
        {
            _closed = true;
        }

        _connection.Abort(new ConnectionAbortedException("The connection was lost: the peer no longer reads."));
    }

    private void Close(Exception? error)
    {
        PendingRequest<TResponse>[] failed;
        lock (_sync)
        {
            _closed = true;
            _closeReason = error;
            failed = [.. _ordered, .. _correlated.Values];
            _ordered.Clear();
            _correlated.Clear();
            _pending = 0;
        }

        _timeoutTimer?.Dispose();
        _writer.Complete();
        foreach (var pending in failed)
        {
            pending.TrySetException(CreateClosedException());
            pending.Release();
        }

        _pushes?.Writer.TryComplete(error);
        _completion.TrySetResult();
    }

    private PendingRequest<TResponse> Rent()
    {
        if (_pool.TryDequeue(out var pending))
        {
            Interlocked.Decrement(ref _pooled);
            return pending;
        }

        return new PendingRequest<TResponse>(this, _runContinuationsAsynchronously);
    }

    private void Return(PendingRequest<TResponse> pending)
    {
        if (Interlocked.Increment(ref _pooled) <= MaxPooledRequests)
        {
            _pool.Enqueue(pending);
        }
        else
        {
            Interlocked.Decrement(ref _pooled);
        }
    }

    private ConnectionClosedException CreateClosedException()
    {
        Exception? reason;
        lock (_sync)
        {
            reason = _closeReason;
        }

        return new ConnectionClosedException(
            "The connection closed before the response arrived; the request may or may not have been processed by the server.",
            reason);
    }

    private TimeoutException CreateTimeoutException() =>
        new($"No response within {_requestTimeout.TotalSeconds:0.###} s. The connection stays usable; the late response, if any, is discarded.");
}
