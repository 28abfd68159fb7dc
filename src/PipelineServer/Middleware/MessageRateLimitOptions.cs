namespace PipelineServer;

/// <summary>What happens to a connection that sends messages faster than its rate limit.</summary>
public enum RateLimitExceededAction
{
    /// <summary>
    /// Stop reading the connection until tokens are available again: its messages are delayed, never dropped, and the
    /// peer's sends back up into its socket buffers.
    /// </summary>
    Backpressure,

    /// <summary>Close the connection at the first message over the limit.</summary>
    Close,
}

/// <summary>
/// Message rate limits, per connection and per remote IP address, enforced with token buckets from
/// <c>System.Threading.RateLimiting</c>. Each bucket holds one second's worth of messages and is refilled every second.
/// </summary>
public sealed class MessageRateLimitOptions
{
    /// <summary>Messages per second one connection may send; <see langword="null"/> (the default) for no limit.</summary>
    public int? PerConnection { get; set; }

    /// <summary>
    /// Messages per second all connections from one IP address may send together; <see langword="null"/> (the default)
    /// for no limit. Connections without an IP address (Unix sockets, in-memory) are not limited by it.
    /// </summary>
    public int? PerIp { get; set; }

    /// <summary>
    /// The IPv6 prefix counted as one address by <see cref="PerIp"/>, 0 to 128; 64 by default (a host is routinely given a
    /// whole /64). IPv4-mapped IPv6 addresses count as IPv4.
    /// </summary>
    public int IPv6PrefixLength { get; set; } = 64;

    /// <summary>Defaults to <see cref="RateLimitExceededAction.Backpressure"/>.</summary>
    public RateLimitExceededAction OnExceeded { get; set; } = RateLimitExceededAction.Backpressure;

    /// <summary>
    /// The clock that refills the buckets. When <see langword="null"/> (the default), the application services'
    /// <see cref="System.TimeProvider"/>, or the system clock when they have none.
    /// </summary>
    public TimeProvider? TimeProvider { get; set; }
}
