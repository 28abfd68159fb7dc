using Microsoft.AspNetCore.Connections;
using PipelineServer.Client.Internal;
using PipelineServer.Transports.Memory;

namespace PipelineServer.Client;

/// <summary>
/// Builds a client connection factory: a transport (TCP or Unix sockets, the in-memory transport, or any
/// <see cref="IConnectionFactory"/>), connection middleware of the same <c>Func&lt;ConnectionDelegate, ConnectionDelegate&gt;</c>
/// shape the server uses (TLS, logging, ...), and a connect timeout.
/// </summary>
/// <example>
/// <code>
/// IConnectionFactory factory = new ClientBuilder()
///     .UseSockets()
///     .UseTls(tls =&gt; tls.TargetHost = "example.com")
///     .Build();
/// await using var connection = await factory.ConnectAsync(new DnsEndPoint("example.com", 7000));
/// </code>
/// </example>
/// <remarks>
/// Middleware runs on each connection as soon as it is established; it may replace <see cref="ConnectionContext.Transport"/>
/// (as TLS does) and must await the next delegate for as long as the connection should keep its shape: the connection
/// returned to the caller is the one the innermost middleware passed on, and disposing it lets the middleware unwind
/// before the transport connection is closed.
/// </remarks>
public sealed class ClientBuilder
{
    private readonly List<Func<ConnectionDelegate, ConnectionDelegate>> _middleware = [];
    private IConnectionFactory? _transport;
    private TimeSpan _connectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Creates a builder.</summary>
    /// <param name="services">Services handed to middleware as <see cref="IConnectionBuilder.ApplicationServices"/>; optional.</param>
    public ClientBuilder(IServiceProvider? services = null) => ApplicationServices = services ?? EmptyServiceProvider.Instance;

    /// <summary>The services middleware can resolve.</summary>
    public IServiceProvider ApplicationServices { get; }

    /// <summary>Connects over TCP or Unix domain sockets (<see cref="SocketConnectionFactory"/>).</summary>
    /// <param name="options">Socket and buffer options.</param>
    /// <returns>This builder.</returns>
    public ClientBuilder UseSockets(SocketConnectionOptions? options = null) => UseTransport(new SocketConnectionFactory(options));

    /// <summary>Connects through an in-memory transport, to a server listening on it in the same process.</summary>
    /// <param name="transport">The transport the server listens on.</param>
    /// <returns>This builder.</returns>
    public ClientBuilder UseMemory(MemoryTransport transport) => UseTransport(transport);

    /// <summary>Connects through any connection factory.</summary>
    /// <param name="transport">The transport.</param>
    /// <returns>This builder.</returns>
    public ClientBuilder UseTransport(IConnectionFactory transport)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _transport = transport;
        return this;
    }

    /// <summary>Adds connection middleware; middleware runs in the order added, the first outermost.</summary>
    /// <param name="middleware">The middleware.</param>
    /// <returns>This builder.</returns>
    public ClientBuilder Use(Func<ConnectionDelegate, ConnectionDelegate> middleware)
    {
        ArgumentNullException.ThrowIfNull(middleware);
        _middleware.Add(middleware);
        return this;
    }

    /// <summary>
    /// Secures each connection with TLS (client side): server certificate validation, SNI, ALPN and an optional client
    /// certificate. Added as middleware, in order with any other middleware.
    /// </summary>
    /// <param name="configure">Configures TLS; the defaults validate the server's certificate against the system's trust.</param>
    /// <returns>This builder.</returns>
    public ClientBuilder UseTls(Action<TlsClientOptions>? configure = null)
    {
        var options = new TlsClientOptions();
        configure?.Invoke(options);
        return Use(new Tls.TlsClientMiddleware(options).Create);
    }

    /// <summary>
    /// Bounds the whole connect, transport and middleware (a TLS handshake, say): past it the connect fails with
    /// <see cref="TimeoutException"/>. 10 seconds by default; <see cref="Timeout.InfiniteTimeSpan"/> for none.
    /// </summary>
    /// <param name="timeout">The timeout.</param>
    /// <returns>This builder.</returns>
    public ClientBuilder WithConnectTimeout(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The connect timeout must be positive, or infinite.");
        }

        _connectTimeout = timeout;
        return this;
    }

    /// <summary>Builds the connection factory. The builder can go on being changed without affecting it.</summary>
    /// <returns>A factory that connects through the transport and runs the middleware on each connection.</returns>
    /// <exception cref="InvalidOperationException">No transport was chosen.</exception>
    public IConnectionFactory Build()
    {
        var transport = _transport ?? throw new InvalidOperationException("Choose a transport first: UseSockets(), UseMemory(...) or UseTransport(...).");
        ConnectionDelegate pipeline = ClientConnectionFactory.Terminal;
        for (var i = _middleware.Count - 1; i >= 0; i--)
        {
            pipeline = _middleware[i](pipeline);
        }

        return new ClientConnectionFactory(transport, _middleware.Count == 0 ? null : pipeline, _connectTimeout);
    }

    private sealed class EmptyServiceProvider : IServiceProvider
    {
        public static readonly EmptyServiceProvider Instance = new();

        public object? GetService(Type serviceType) => null;
    }
}
