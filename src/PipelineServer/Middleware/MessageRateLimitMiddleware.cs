using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using PipelineServer.Diagnostics;
using PipelineServer.Internal;

namespace PipelineServer.Middleware;

// Token buckets (System.Threading.RateLimiting limiters) per connection and per remote address, consulted by the
// protocol loop through IMessageGateFeature before each message. The buckets refill from one timer per endpoint on the
// configured TimeProvider, so tests drive them with a fake clock.
internal sealed class MessageRateLimitMiddleware
{
    private readonly ConnectionDelegate _next;
    private readonly MessageRateLimitOptions _options;
    private readonly ILogger _logger;
    private readonly PeerFaultLog _faults;
    private readonly ConcurrentDictionary<TokenBucket, byte> _buckets = new();
    private readonly Dictionary<IPAddress, SharedBucket> _perIp = [];
    // Per-IP buckets whose last connection closed before they were full again; the next refill fills them, and drops them
    // then if no connection has come back. Guarded by _perIp's lock.
    private readonly List<IPAddress> _released = [];
    private readonly ITimer _refill;

    public MessageRateLimitMiddleware(ConnectionDelegate next, MessageRateLimitOptions options, TimeProvider time, ILogger logger, PeerFaultLog faults)
    {
        _faults = faults;
        _next = next;
        _options = options;
        _logger = logger;
        _refill = WeakTimer.Start(time, this, static middleware => middleware.Refill(), TimeSpan.FromSeconds(1));
    }

    ~MessageRateLimitMiddleware() => _refill.Dispose();

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var address = _options.PerIp is null ? null : RemoteAddress.GroupOf(connection, _options.IPv6PrefixLength);
        var ipBucket = address is null ? null : AcquireShared(address);
        var connectionBucket = _options.PerConnection is { } rate ? CreateBucket(rate) : null;
        if (connectionBucket is not null)
        {
            _buckets.TryAdd(connectionBucket, 0);
        }

        var previous = connection.Features.Get<IMessageGateFeature>();
        connection.Features.Set<IMessageGateFeature>(new Gate(this, connection, previous, ipBucket?.Limiter, connectionBucket));
        try
        {
            await _next(connection).ConfigureAwait(false);
        }
        finally
        {
            connection.Features.Set(previous);
            if (connectionBucket is not null)
            {
                _buckets.TryRemove(connectionBucket, out _);
                await connectionBucket.DisposeAsync().ConfigureAwait(false);
            }

            if (address is not null)
            {
                ReleaseShared(address);
            }
        }
    }

    // How many addresses (IPv6: prefixes) have a per-IP bucket: those with open connections, and those released in the
    // last second whose bucket is not yet full again.
    internal int TrackedAddresses
    {
        get
        {
            lock (_perIp)
            {
                return _perIp.Count;
            }
        }
    }

    private static TokenBucket CreateBucket(int messagesPerSecond) => new(messagesPerSecond);

    private SharedBucket AcquireShared(IPAddress address)
    {
        lock (_perIp)
        {
            if (!_perIp.TryGetValue(address, out var shared))
            {
                shared = new SharedBucket(CreateBucket(_options.PerIp!.Value));
                _perIp[address] = shared;
                _buckets.TryAdd(shared.Limiter, 0);
            }

            shared.Users++;
            return shared;
        }
    }

    private void ReleaseShared(IPAddress address)
    {
        lock (_perIp)
        {
            var shared = _perIp[address];
            if (--shared.Users == 0)
            {
                if (shared.Limiter.IsFull)
                {
                    Drop(address, shared);
                }
                else
                {
                    // Kept until it would be full anyway: otherwise close-and-reconnect would get a fresh bucket, and the
                    // per-IP limit would be no limit (RateLimitTests.AReconnectDoesNotRefillThePerIpBucket).
                    _released.Add(address);
                }
            }
        }
    }

    private void Drop(IPAddress address, SharedBucket shared)
    {
        _perIp.Remove(address);
        _buckets.TryRemove(shared.Limiter, out _);
        shared.Limiter.Dispose();
    }

    private void Refill()
    {
        foreach (var (bucket, _) in _buckets)
        {
            bucket.Refill();
        }

        lock (_perIp)
        {
            // Every bucket is full now: those released and not taken up again since go.
            foreach (var address in _released)
            {
                if (_perIp.TryGetValue(address, out var shared) && shared.Users == 0)
                {
                    Drop(address, shared);
                }
            }

            _released.Clear();
        }
    }

    private sealed class SharedBucket(TokenBucket limiter)
    {
        public TokenBucket Limiter { get; } = limiter;

        public int Users { get; set; }
    }

    private sealed class Gate(
        MessageRateLimitMiddleware owner,
        ConnectionContext connection,
        IMessageGateFeature? previous,
        TokenBucket? perIp,
        TokenBucket? perConnection) : IMessageGateFeature
    {
        public ValueTask WaitAsync(CancellationToken cancellationToken)
        {
            if (previous is not null)
            {
                var earlier = previous.WaitAsync(cancellationToken);
                if (!earlier.IsCompletedSuccessfully)
                {
                    return AfterPreviousAsync(earlier, cancellationToken);
                }
            }

            return AcquireAsync(cancellationToken);
        }

        private async ValueTask AfterPreviousAsync(ValueTask earlier, CancellationToken cancellationToken)
        {
            await earlier.ConfigureAwait(false);
            await AcquireAsync(cancellationToken).ConfigureAwait(false);
        }

        private ValueTask AcquireAsync(CancellationToken cancellationToken)
        {
            if (owner._options.OnExceeded == RateLimitExceededAction.Close)
            {
                if (!TryAcquire(perIp) || !TryAcquire(perConnection))
                {
                    ConnectionCloseReason.Set(connection, ConnectionCloseReason.RateLimit);
                    MiddlewareLog.RateLimitExceeded(owner._logger, connection.ConnectionId, connection.RemoteEndPoint?.ToString());
                    owner._faults.Report(PeerFault.RateLimit);
                    // The protocol loop sends the answers to the messages before this one, then closes the connection.
                    return ValueTask.FromException(new ConnectionAbortedException("The connection exceeded its message rate limit."));
                }

                return default;
            }

            // Backpressure: the fast path takes a token at once; otherwise wait in the bucket's queue for the refill.
            if (TryAcquire(perIp))
            {
                return TryAcquire(perConnection) ? default : WaitForTokenAsync(perConnection!, cancellationToken);
            }

            return WaitForBothAsync(cancellationToken);
        }

        private async ValueTask WaitForBothAsync(CancellationToken cancellationToken)
        {
            await WaitForTokenAsync(perIp!, cancellationToken).ConfigureAwait(false);
            if (!TryAcquire(perConnection))
            {
                await WaitForTokenAsync(perConnection!, cancellationToken).ConfigureAwait(false);
            }
        }

        private static bool TryAcquire(TokenBucket? bucket) => bucket is null || bucket.TryTake();

        private static async ValueTask WaitForTokenAsync(TokenBucket bucket, CancellationToken cancellationToken)
        {
            using var lease = await bucket.AcquireAsync(1, cancellationToken).ConfigureAwait(false);
            if (!lease.IsAcquired)
            {
                // Refused only when the bucket is disposed: the connection is ending.
                throw new ConnectionAbortedException("The connection closed while waiting for its rate limit.");
            }
        }
    }
}
