using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer.Hosting;
using PipelineServer.Transports.Memory;

namespace PipelineServer.Tests.Infrastructure;

/// <summary>A standalone PipelineServer host (generic host + Kestrel) on 127.0.0.1 port 0 or the in-memory transport.</summary>
public sealed class TestHost : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly MemoryTransport _memory;

    private TestHost(IHost host, MemoryTransport memory, TestLoggerProvider logs)
    {
        _host = host;
        _memory = memory;
        Logs = logs;
    }

    public TestLoggerProvider Logs { get; }

    public MemoryTransport Memory => _memory;

    /// <summary>A client connection factory for this host's transport.</summary>
    public Microsoft.AspNetCore.Connections.IConnectionFactory ClientFactory(Action<PipelineServer.Client.ClientBuilder>? configure = null)
    {
        var builder = new PipelineServer.Client.ClientBuilder();
        if (EndPoint is MemoryEndPoint)
        {
            builder.UseMemory(_memory);
        }
        else
        {
            builder.UseSockets();
        }

        configure?.Invoke(builder);
        return builder.Build();
    }

    public IServiceProvider Services => _host.Services;

    public EndPoint EndPoint => Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!;

    public static async Task<TestHost> StartAsync(
        TransportKind transport,
        Action<ListenOptions> configure,
        Action<HostApplicationBuilder>? configureHost = null,
        TimeSpan? shutdownTimeout = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var logs = new TestLoggerProvider();
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdownTimeout ?? TimeSpan.FromSeconds(10));
        var memory = new MemoryTransport();
        configureHost?.Invoke(builder);
        builder.AddPipelineServer(server =>
        {
            if (transport == TransportKind.Memory)
            {
                server.AddTransport(memory);
                server.Listen("memory:test-" + Guid.NewGuid().ToString("N"), configure);
            }
            else
            {
                server.Listen("tcp://127.0.0.1:0", configure);
            }
        });

        var host = builder.Build();
        using var cts = new CancellationTokenSource(TestClient.Timeout);
        await host.StartAsync(cts.Token);
        return new TestHost(host, memory, logs);
    }

    public Task<TestClient> ConnectAsync() => TestClient.ConnectAsync(EndPoint, _memory);

    public Task StopAsync() => _host.StopAsync();

    public IEnumerable<LogRecord> Errors => Logs.Records.Where(static r => r.Level >= LogLevel.Error);

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
