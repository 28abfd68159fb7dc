using System.Diagnostics.CodeAnalysis;
using System.Threading.Tasks.Sources;

namespace PipelineServer.Client.Internal;

// One request waiting for its response: the reusable IValueTaskSource behind the ValueTask a caller awaits. It has two
// owners, the caller (until it has read the result) and the connection (until the response, or the connection's end,
// has been dealt with); it goes back to the pool when both are done, so a late response can never reach a reused one.
// Nor can a late cancellation callback: the caller disposes the registration when it reads the result, before it
// releases its share, and the dispose waits for a callback already running on another thread. A callback can therefore
// only ever see the request it was registered for (CancellationRaceTests).
internal interface IPendingRequestOwner<TResponse>
{
    void OnCanceled(PendingRequest<TResponse> request, CancellationToken cancellationToken);

    void Return(PendingRequest<TResponse> request);
}

internal sealed class PendingRequest<TResponse> : IValueTaskSource<TResponse>
{
    private readonly IPendingRequestOwner<TResponse> _owner;
    private ManualResetValueTaskSourceCore<TResponse> _source;
    private CancellationTokenRegistration _cancellation;
    private int _completed;
    private int _owners;

    public PendingRequest(IPendingRequestOwner<TResponse> owner, bool runContinuationsAsynchronously)
    {
        _owner = owner;
        // By default callers' continuations never run on the connection's read loop.
        _source.RunContinuationsAsynchronously = runContinuationsAsynchronously;
    }

    public long Id { get; private set; }

    public long StartedAt { get; private set; }

    public bool IsCompleted => Volatile.Read(ref _completed) != 0;

    public ValueTask<TResponse> Task => new(this, _source.Version);

    public void Start(long id, long startedAt)
    {
        Id = id;
        StartedAt = startedAt;
        _completed = 0;
        _owners = 2;
    }

    public void CancelOn(CancellationToken cancellationToken)
    {
        if (cancellationToken.CanBeCanceled)
        {
            _cancellation = cancellationToken.UnsafeRegister(
                static (state, token) =>
                {
                    var request = (PendingRequest<TResponse>)state!;
                    request._owner.OnCanceled(request, token);
                },
                this);
        }
    }

    // The registration is left alone here: the completing thread may not yet see the one CancelOn is storing (the
    // response can arrive before CancelOn has run). GetResult disposes it, on the caller's side.
    public bool TrySetResult(TResponse response)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return false;
        }

        _source.SetResult(response);
        return true;
    }

    public bool TrySetException(Exception exception)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return false;
        }

        _source.SetException(exception);
        return true;
    }

    // Keeps the request from going back to the pool while someone who found it under the connection's lock completes
    // it after releasing the lock; paired with Release.
    public void Retain() => Interlocked.Increment(ref _owners);

    // Called by the connection once it no longer refers to this request.
    public void Release()
    {
        if (Interlocked.Decrement(ref _owners) == 0)
        {
            _source.Reset();
            _owner.Return(this);
        }
    }

    public TResponse GetResult(short token)
    {
        if (token != _source.Version)
        {
            // A ValueTask read twice: this request may already serve another caller, whose share must not be released.
            ThrowStaleToken();
        }

        // Before the caller's share is released, no cancellation callback may still run: Dispose waits for one running
        // on another thread (which never waits for this one: the callback takes only the connection's lock, and no
        // request is completed under it). On the callback's own thread (an inline continuation) it does not wait; after
        // completing the request the callback only releases the connection's share, which it took over.
        _cancellation.Dispose();
        _cancellation = default;
        try
        {
            return _source.GetResult(token);
        }
        finally
        {
            Release();
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _source.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);

    [DoesNotReturn]
    private static void ThrowStaleToken() =>
        throw new InvalidOperationException("This ValueTask has already been awaited; a ValueTask may be awaited only once.");
}
