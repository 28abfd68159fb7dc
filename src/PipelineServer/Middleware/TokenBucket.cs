using System.Threading.RateLimiting;

namespace PipelineServer.Middleware;

// A token bucket on System.Threading.RateLimiting's RateLimiter model (leases, a FIFO queue of waiters), refilled by
// Refill() calls from the owner's timer on its TimeProvider. The library's own TokenBucketRateLimiter measures elapsed
// time with Stopwatch even when replenished by hand, so a fake clock could not drive it.
internal sealed class TokenBucket : RateLimiter
{
    private static readonly RateLimitLease s_granted = new Lease(true);
    private static readonly RateLimitLease s_refused = new Lease(false);

    private readonly Queue<(TaskCompletionSource<RateLimitLease> Waiter, CancellationTokenRegistration Registration)> _waiters = new();
    private readonly int _capacity;
    private int _tokens;
    private long _idleSince = Environment.TickCount64;
    private bool _disposed;

    public TokenBucket(int capacity)
    {
        _capacity = capacity;
        _tokens = capacity;
    }

    public override TimeSpan? IdleDuration
    {
        get
        {
            lock (_waiters)
            {
                return _tokens == _capacity && _waiters.Count == 0 ? TimeSpan.FromMilliseconds(Environment.TickCount64 - _idleSince) : null;
            }
        }
    }

    public override RateLimiterStatistics? GetStatistics()
    {
        lock (_waiters)
        {
            return new RateLimiterStatistics { CurrentAvailablePermits = Volatile.Read(ref _tokens), CurrentQueuedCount = _waiters.Count };
        }
    }

    // Whether the bucket holds all its tokens (a second's worth of messages).
    public bool IsFull => Volatile.Read(ref _tokens) == _capacity;

    // Tops the bucket up to capacity (a second's worth of messages) and hands tokens to waiters, oldest first.
    public void Refill()
    {
        List<TaskCompletionSource<RateLimitLease>>? granted = null;
        lock (_waiters)
        {
            if (_disposed)
            {
                return;
            }

            var tokens = _capacity;
            while (tokens > 0 && _waiters.TryDequeue(out var next))
            {
                next.Registration.Dispose();
                if (!next.Waiter.Task.IsCompleted)
                {
                    tokens--;
                    (granted ??= []).Add(next.Waiter);
                }
            }

            Volatile.Write(ref _tokens, tokens);
            if (tokens == _capacity)
            {
                _idleSince = Environment.TickCount64;
            }
        }

        // Completed outside the lock: their continuations run asynchronously anyway, but never under our lock.
        if (granted is not null)
        {
            foreach (var waiter in granted)
            {
                waiter.TrySetResult(s_granted);
            }
        }
    }

    // The per-message fast path: one interlocked decrement, no lock. Waiters queue only when the bucket is empty, and
    // Refill hands tokens to them before anyone else can take one, so skipping the queue check here cannot overtake a
    // waiter: with waiters present the count is zero.
    public bool TryTake()
    {
        var tokens = Volatile.Read(ref _tokens);
        while (tokens > 0)
        {
            var seen = Interlocked.CompareExchange(ref _tokens, tokens - 1, tokens);
            if (seen == tokens)
            {
                return true;
            }

            tokens = seen;
        }

        return false;
    }

    protected override RateLimitLease AttemptAcquireCore(int permitCount) =>
        permitCount == 1 && !_disposed && TryTake() ? s_granted : s_refused;

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        if (permitCount != 1)
        {
            throw new ArgumentOutOfRangeException(nameof(permitCount), "A message takes one token.");
        }

        lock (_waiters)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_waiters.Count == 0 && TryTake())
            {
                return new ValueTask<RateLimitLease>(s_granted);
            }

            var waiter = new TaskCompletionSource<RateLimitLease>(TaskCreationOptions.RunContinuationsAsynchronously);
            var registration = cancellationToken.UnsafeRegister(static (state, token) => ((TaskCompletionSource<RateLimitLease>)state!).TrySetCanceled(token), waiter);
            _waiters.Enqueue((waiter, registration));
            return new ValueTask<RateLimitLease>(waiter.Task);
        }
    }

    protected override void Dispose(bool disposing)
    {
        lock (_waiters)
        {
            _disposed = true;
            while (_waiters.TryDequeue(out var next))
            {
                next.Registration.Dispose();
                next.Waiter.TrySetResult(s_refused);
            }
        }

        base.Dispose(disposing);
    }

    private sealed class Lease(bool acquired) : RateLimitLease
    {
        public override bool IsAcquired { get; } = acquired;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }
    }
}
