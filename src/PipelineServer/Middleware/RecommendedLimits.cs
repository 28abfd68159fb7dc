namespace PipelineServer;

/// <summary>
/// The limits the samples ship with, and that docs/middleware.md recommends for an endpoint that strangers can reach:
/// without them a peer can hold a connection for ever, and one address can take every file descriptor. Each is a
/// starting point; what your protocol's clients do decides the final values.
/// </summary>
public static class RecommendedLimits
{
    /// <summary>At most 100 connections from one address (an IPv6 /64) at once.</summary>
    public const int MaxConnectionsPerIp = 100;

    /// <summary>A new connection must complete its first message within 10 seconds.</summary>
    public static TimeSpan FirstMessageTimeout { get; } = TimeSpan.FromSeconds(10);

    /// <summary>A connection that sends nothing for 5 minutes, between messages, is closed.</summary>
    public static TimeSpan IdleTimeout { get; } = TimeSpan.FromMinutes(5);

    /// <summary>A message, once started, must be complete within 30 seconds.</summary>
    public static TimeSpan SlowMessageTimeout { get; } = TimeSpan.FromSeconds(30);

    /// <summary>A peer that takes nothing the server sends for 30 seconds is closed.</summary>
    public static TimeSpan WriteTimeout { get; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Sets the four recommended timeouts, for <c>endpoint.UseTimeouts(RecommendedLimits.SetTimeouts)</c>.
    /// </summary>
    /// <param name="options">The timeouts to set.</param>
    public static void SetTimeouts(ConnectionTimeoutOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.FirstMessageTimeout = FirstMessageTimeout;
        options.IdleTimeout = IdleTimeout;
        options.SlowMessageTimeout = SlowMessageTimeout;
        options.WriteTimeout = WriteTimeout;
    }
}
