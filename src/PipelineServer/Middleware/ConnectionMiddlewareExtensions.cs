using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PipelineServer.Diagnostics;
using PipelineServer.Middleware;

namespace PipelineServer;

/// <summary>
/// PipelineServer's connection middleware, for Kestrel's <c>ListenOptions</c> or any other
/// <see cref="IConnectionBuilder"/>. Order matters: middleware sees the connection as the middleware before it left it.
/// A typical chain: <c>UseProxyProtocol</c>, <c>UseConnectionLimitPerIp</c>, <c>UseTls</c>, <c>UseLifecycleLogging</c>,
/// <c>UseTimeouts</c>, <c>UseMessageRateLimit</c>, then <c>UseProtocol</c>.
/// </summary>
public static class ConnectionMiddlewareExtensions
{
    /// <summary>
    /// Closes, at once, a connection from a remote IP address that already has <paramref name="limit"/> connections open
    /// through this endpoint; it is counted in <c>pipelineserver.rejected_connections</c> (reason <c>ip_limit</c>) and never
    /// queued. IPv6 addresses count by their first <paramref name="ipv6PrefixLength"/> bits (a host is routinely given a
    /// whole /64); IPv4-mapped IPv6 addresses count as IPv4. For a global maximum use Kestrel's
    /// <c>KestrelServerOptions.Limits.MaxConcurrentConnections</c>. Put it after <see cref="UseProxyProtocol"/> so that it
    /// counts clients, not load balancers.
    /// </summary>
    /// <param name="builder">The connection pipeline.</param>
    /// <param name="limit">The most connections one address may hold open.</param>
    /// <param name="ipv6PrefixLength">The IPv6 prefix counted as one address, 0 to 128; 64 by default.</param>
    /// <returns>The builder.</returns>
    public static IConnectionBuilder UseConnectionLimitPerIp(this IConnectionBuilder builder, int limit, int ipv6PrefixLength = 64) =>
        UseConnectionLimitPerIp(builder, options =>
        {
            options.Limit = limit;
            options.IPv6PrefixLength = ipv6PrefixLength;
        });

    /// <summary>
    /// The per-IP connection limit of <see cref="UseConnectionLimitPerIp(IConnectionBuilder, int, int)"/>, with a message
    /// for refused peers in the protocol's own words (<see cref="ConnectionLimitPerIpOptions.RefusalMessage"/>).
    /// </summary>
    /// <param name="builder">The connection pipeline.</param>
    /// <param name="configure">Sets the limit, the IPv6 prefix and the refusal message.</param>
    /// <returns>The builder.</returns>
    public static IConnectionBuilder UseConnectionLimitPerIp(this IConnectionBuilder builder, Action<ConnectionLimitPerIpOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new ConnectionLimitPerIpOptions();
        configure(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Limit, nameof(options.Limit));
        RemoteAddress.ValidatePrefixLength(options.IPv6PrefixLength, nameof(options.IPv6PrefixLength));
        var logger = CreateLogger(builder, MiddlewareLog.CategoryName);
        var metrics = PipelineServerMetrics.Get(builder.ApplicationServices);
        var faults = PeerFaultLog.Get(builder.ApplicationServices);
        return builder.Use(next => new ConnectionLimitPerIpMiddleware(next, options, logger, metrics, faults).OnConnectionAsync);
    }

    /// <summary>
    /// Closes connections that stay idle, never send a complete message, take too long over one message, or stop reading
    /// what the server sends (see <see cref="ConnectionTimeoutOptions"/>). Each close is logged with its reason (event <c>ConnectionTimedOut</c>) and
    /// counted in <c>pipelineserver.closed_connections</c>. Put it after <c>UseTls</c>, so that it sees messages rather
    /// than TLS records.
    /// </summary>
    /// <param name="builder">The connection pipeline.</param>
    /// <param name="configure">Sets the timeouts; at least one must be set.</param>
    /// <returns>The builder.</returns>
    public static IConnectionBuilder UseTimeouts(this IConnectionBuilder builder, Action<ConnectionTimeoutOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new ConnectionTimeoutOptions();
        configure(options);
        if (options.IdleTimeout is null && options.FirstMessageTimeout is null && options.SlowMessageTimeout is null && options.WriteTimeout is null)
        {
            throw new ArgumentException("Set at least one of IdleTimeout, FirstMessageTimeout, SlowMessageTimeout and WriteTimeout.", nameof(configure));
        }

        var logger = CreateLogger(builder, MiddlewareLog.CategoryName);
        var time = TimeOf(builder, options.TimeProvider);
        return builder.Use(next => new ConnectionTimeoutMiddleware(next, options, time, logger, PeerFaultLog.Get(builder.ApplicationServices)).OnConnectionAsync);
    }

    /// <summary>
    /// Reads a PROXY protocol header (version 1 or 2) from connections that come from trusted networks and makes the
    /// client address it names the connection's <see cref="BaseConnectionContext.RemoteEndPoint"/> (and the address the
    /// client connected to its <see cref="BaseConnectionContext.LocalEndPoint"/>) for everything after it. A malformed,
    /// truncated, late or (in <see cref="ProxyProtocolMode.Required"/> mode) missing header closes the connection. Put it
    /// first, before <c>UseTls</c>.
    /// </summary>
    /// <param name="builder">The connection pipeline.</param>
    /// <param name="configure">Sets the mode and the trusted networks.</param>
    /// <returns>The builder.</returns>
    public static IConnectionBuilder UseProxyProtocol(this IConnectionBuilder builder, Action<ProxyProtocolOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new ProxyProtocolOptions();
        configure(options);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.HeaderTimeout, TimeSpan.Zero, nameof(options.HeaderTimeout));
        var logger = CreateLogger(builder, MiddlewareLog.CategoryName);
        var metrics = PipelineServerMetrics.Get(builder.ApplicationServices);
        var time = TimeOf(builder, options.TimeProvider);
        return builder.Use(next => new ProxyProtocolMiddleware(next, options, time, logger, metrics, PeerFaultLog.Get(builder.ApplicationServices)).OnConnectionAsync);
    }

    /// <summary>
    /// Limits how many messages per second a connection, and all connections from one IP address together, may send;
    /// over the limit it either holds the connection's reading back or closes it (<see cref="MessageRateLimitOptions"/>).
    /// Works through <see cref="IMessageGateFeature"/>, so it needs <c>UseProtocol</c> after it.
    /// </summary>
    /// <param name="builder">The connection pipeline.</param>
    /// <param name="configure">Sets the limits; at least one must be set.</param>
    /// <returns>The builder.</returns>
    public static IConnectionBuilder UseMessageRateLimit(this IConnectionBuilder builder, Action<MessageRateLimitOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new MessageRateLimitOptions();
        configure(options);
        if (options.PerConnection is null && options.PerIp is null)
        {
            throw new ArgumentException("Set PerConnection, PerIp or both.", nameof(configure));
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.PerConnection ?? 1, nameof(options.PerConnection));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.PerIp ?? 1, nameof(options.PerIp));
        RemoteAddress.ValidatePrefixLength(options.IPv6PrefixLength, nameof(options.IPv6PrefixLength));
        var logger = CreateLogger(builder, MiddlewareLog.CategoryName);
        var time = TimeOf(builder, options.TimeProvider);
        return builder.Use(next => new MessageRateLimitMiddleware(next, options, time, logger, PeerFaultLog.Get(builder.ApplicationServices)).OnConnectionAsync);
    }

    /// <summary>
    /// Logs each connection's start (remote and local address) and end (duration and reason: <c>clean</c>,
    /// <c>protocol_error</c>, <c>idle_timeout</c>, ...) at Information, category <c>PipelineServer.Connections</c>.
    /// </summary>
    /// <param name="builder">The connection pipeline.</param>
    /// <returns>The builder.</returns>
    public static IConnectionBuilder UseLifecycleLogging(this IConnectionBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var logger = CreateLogger(builder, MiddlewareLog.CategoryName);
        return builder.Use(next => new LifecycleLoggingMiddleware(next, logger).OnConnectionAsync);
    }

    /// <summary>
    /// Logs the bytes each connection receives and sends as a hex dump, at Debug in the <c>PipelineServer.HexDump</c>
    /// category, up to <paramref name="maxBytesPerDirection"/> bytes each way per connection. Costs nothing when that
    /// category is not enabled for Debug. Put it after <c>UseTls</c> to see plaintext.
    /// </summary>
    /// <param name="builder">The connection pipeline.</param>
    /// <param name="maxBytesPerDirection">The cap per direction per connection; 4096 by default.</param>
    /// <returns>The builder.</returns>
    public static IConnectionBuilder UseHexDump(this IConnectionBuilder builder, int maxBytesPerDirection = 4096)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytesPerDirection);
        var logger = CreateLogger(builder, HexDumpMiddleware.CategoryName);
        return builder.Use(next => new HexDumpMiddleware(next, maxBytesPerDirection, logger).OnConnectionAsync);
    }

    // The clock an option names, else the application's (the test kit registers its fake one there), else the system's.
    private static TimeProvider TimeOf(IConnectionBuilder builder, TimeProvider? configured) =>
        configured ?? builder.ApplicationServices.GetService<TimeProvider>() ?? TimeProvider.System;

    private static ILogger CreateLogger(IConnectionBuilder builder, string category) =>
        (builder.ApplicationServices.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger(category);
}
