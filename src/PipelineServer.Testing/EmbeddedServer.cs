using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PipelineServer.Transports.Memory;

namespace PipelineServer.Testing;

/// <summary>
/// Runs a connection middleware chain (a protocol, its handler, and any middleware in front of it) in memory, and
/// opens connections to it from a test: the same chain Kestrel would run, with no sockets.
/// </summary>
/// <example>
/// <code>
/// await using var server = new EmbeddedServer(b =&gt; b.UseProtocol(reader, writer, new EchoHandler()));
/// await using var connection = await server.ConnectAsync();
/// await connection.SendAsync(frame);
/// var reply = await connection.ReceiveExactlyAsync(frame.Length);
/// </code>
/// </example>
public sealed class EmbeddedServer : IAsyncDisposable
{
    private readonly MemoryTransport _transport;
    private readonly MemoryEndPoint _endPoint = new("embedded-" + Guid.NewGuid().ToString("N"));
    private readonly IConnectionListener _listener;
    private readonly ConnectionDelegate _application;
    private readonly TimeSpan _receiveTimeout;
    private readonly ConcurrentDictionary<EmbeddedConnection, byte> _connections = new();
    private readonly ServiceProvider? _ownedServices;

    /// <summary>Builds the chain and starts listening.</summary>
    /// <param name="configure">Adds middleware and the protocol to the chain.</param>
    /// <param name="options">Services, clock, memory pool and timeouts.</param>
    public EmbeddedServer(Action<IConnectionBuilder> configure, EmbeddedServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(configure);
        options ??= new EmbeddedServerOptions();
        if (options.Services is null)
        {
            var services = new ServiceCollection();
            services.AddSingleton(options.TimeProvider ?? TimeProvider.System);
            services.AddSingleton(options.LoggerFactory ?? NullLoggerFactory.Instance);
            services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
            _ownedServices = services.BuildServiceProvider();
            Services = _ownedServices;
        }
        else
        {
            Services = options.Services;
        }

        _receiveTimeout = options.ReceiveTimeout;
        _transport = new MemoryTransport(options.MemoryPool);
        var builder = new ConnectionBuilder(Services);
        configure(builder);
        _application = builder.Build();
        // The in-memory transport binds synchronously.
        _listener = _transport.BindAsync(_endPoint).AsTask().GetAwaiter().GetResult();
    }

    /// <summary>The application services the chain was built with.</summary>
    public IServiceProvider Services { get; }

    /// <summary>
    /// Opens a connection and starts the chain on its server end; returns once the chain has run up to its first wait
    /// (for data, typically), so timers its middleware set have been set.
    /// </summary>
    /// <param name="cancellationToken">Cancels the connect.</param>
    /// <returns>The client end, to send and receive with.</returns>
    public async ValueTask<EmbeddedConnection> ConnectAsync(CancellationToken cancellationToken = default)
    {
        var client = await _transport.ConnectAsync(_endPoint, cancellationToken).ConfigureAwait(false);
        var server = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The embedded server is stopped.");

        var lifetime = new LifetimeNotification();
        server.Features.Set<IConnectionLifetimeNotificationFeature>(lifetime);
        var connection = new EmbeddedConnection(client, server, lifetime, _receiveTimeout);
        _connections[connection] = 0;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Start(RunAsync(server, connection, started));

        // Returned once every middleware has run to its first wait, so a timer it sets (a timeout) is set before the test
        // moves a fake clock (ClockFromServicesTests.TimeoutsRunOnTheEmbeddedServersClock).
        await started.Task.ConfigureAwait(false);
        return connection;
    }

    /// <summary>
    /// Asks every open connection to close, as a host does on shutdown (the chain sees
    /// <see cref="IConnectionLifetimeNotificationFeature.ConnectionClosedRequested"/>), and waits for them to finish.
    /// </summary>
    /// <returns>A task that completes when every connection's chain has returned.</returns>
    public async ValueTask DisposeAsync()
    {
        await _listener.UnbindAsync().ConfigureAwait(false);
        var running = new List<Task>();
        foreach (var connection in _connections.Keys)
        {
            connection.RequestClose();
            running.Add(connection.Completion);
        }

        try
        {
            await Task.WhenAll(running).WaitAsync(_receiveTimeout).ConfigureAwait(false);
        }
        catch (Exception) when (running.TrueForAll(static t => t.IsCompleted))
        {
            // A chain's own failure is reported by its connection's Completion, not by disposing the server.
        }
        finally
        {
            foreach (var connection in _connections.Keys)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }

            await _listener.DisposeAsync().ConfigureAwait(false);
            if (_ownedServices is not null)
            {
                await _ownedServices.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task RunAsync(ConnectionContext server, EmbeddedConnection connection, TaskCompletionSource started)
    {
        // Leave the caller's thread first, as Kestrel's dispatcher does.
        await Task.Yield();
        try
        {
            Task running;
            try
            {
                running = _application(server);
            }
            finally
            {
                started.TrySetResult();
            }

            await running.ConfigureAwait(false);
        }
        finally
        {
            await server.DisposeAsync().ConfigureAwait(false);
            _connections.TryRemove(connection, out _);
        }
    }

    private sealed class LifetimeNotification : IConnectionLifetimeNotificationFeature
    {
        private readonly CancellationTokenSource _closeRequested = new();

        public CancellationToken ConnectionClosedRequested
        {
            get => _closeRequested.Token;
            set => throw new NotSupportedException();
        }

        public void RequestClose() => _closeRequested.Cancel();
    }
}
