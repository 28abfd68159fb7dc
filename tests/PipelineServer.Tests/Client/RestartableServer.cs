using System.Collections.Concurrent;
using System.Net;
using EchoServer;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using PipelineServer.Client;
using PipelineServer.Hosting;
using PipelineServer.Tests.Infrastructure;
using PipelineServer.Transports.Memory;

namespace PipelineServer.Tests.Client;

/// <summary>A server that a test can kill (every connection reset at once, listener gone) and start again on the same endpoint.</summary>
internal sealed class RestartableServer(TransportKind transport, ScriptedHandler handler) : IAsyncDisposable
{
    private readonly MemoryTransport _memory = new();
    private readonly string _name = "restartable-" + Guid.NewGuid().ToString("N");
    private readonly ConcurrentDictionary<ConnectionContext, byte> _connections = new();
    private IHost? _host;
    private int _port;

    public EndPoint EndPoint { get; private set; } = null!;

    public ConcurrentDictionary<string, int> MessagesPerConnection { get; } = new();

    public IConnectionFactory ClientFactory() =>
        transport == TransportKind.Memory ? new ClientBuilder().UseMemory(_memory).Build() : new ClientBuilder().UseSockets().Build();

    public async Task StartAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
        builder.AddPipelineServer(server =>
        {
            var url = transport == TransportKind.Memory ? "memory:" + _name : $"tcp://127.0.0.1:{_port}";
            if (transport == TransportKind.Memory)
            {
                server.AddTransport(_memory);
            }

            server.Listen(url, listen =>
            {
                listen.Use(next => async connection =>
                {
                    _connections[connection] = 0;
                    try
                    {
                        await next(connection);
                    }
                    finally
                    {
                        _connections.TryRemove(connection, out _);
                    }
                });
                listen.Use(next => connection =>
                {
                    // Counts messages per connection for the load-balancing tests.
                    MessagesPerConnection.TryAdd(connection.ConnectionId, 0);
                    return next(connection);
                });
                listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, new CountingHandler(handler, MessagesPerConnection));
            });
        });

        _host = builder.Build();
        await _host.StartAsync();
        EndPoint = _host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!;
        if (EndPoint is IPEndPoint ip)
        {
            _port = ip.Port;
        }
    }

    /// <summary>Resets every connection at once and stops listening, as a crashed server would.</summary>
    public async Task KillAsync()
    {
        foreach (var connection in _connections.Keys)
        {
            connection.Abort(new ConnectionAbortedException("The test killed the server."));
        }

        await _host!.StopAsync();
        _host.Dispose();
        _host = null;
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync();
            _host.Dispose();
        }
    }

    private sealed class CountingHandler(ScriptedHandler inner, ConcurrentDictionary<string, int> counts) : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            counts.AddOrUpdate(session.ConnectionId, 1, static (_, n) => n + 1);
            return inner.OnMessageAsync(session, message);
        }
    }
}
