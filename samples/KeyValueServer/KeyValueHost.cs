using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using PipelineServer;
using PipelineServer.Resp;

namespace KeyValueServer;

/// <summary>Builds the key-value server's host from standard .NET configuration.</summary>
public static class KeyValueHost
{
    /// <summary>The default endpoint: loopback, one above Redis's port so both can run side by side.</summary>
    public const string DefaultUrl = "tcp://127.0.0.1:6380";

    /// <summary>
    /// Creates the host. Settings: <c>Url</c> (default <c>tcp://127.0.0.1:6380</c>), <c>MaxBulkLength</c> (bytes, default
    /// 512 MiB as Redis; also the longest value APPEND builds), <c>MaxConnectionsPerIp</c>, <c>IdleTimeout</c>, and two transport settings for benchmarks:
    /// <c>InlineScheduling</c> (run handlers on the socket threads) and <c>WaitForDataBeforeAllocatingBuffer</c>.
    /// </summary>
    /// <param name="args">Command-line arguments.</param>
    /// <param name="configure">Extra configuration of the builder (tests use it for logs and clocks).</param>
    /// <returns>The host, not started.</returns>
    public static IHost Create(string[] args, Action<HostApplicationBuilder>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(args);
        var url = builder.Configuration["Url"] ?? DefaultUrl;
        // A value is one array: no bulk string longer than the longest one the store can hold.
        var maxBulk = Math.Min(builder.Configuration.GetValue("MaxBulkLength", RespLimits.Default.MaxBulkLength), KeyValueStore.MaxValueLength);
        var limits = new RespLimits { MaxBulkLength = maxBulk };
        var perIp = builder.Configuration.GetValue<int?>("MaxConnectionsPerIp");
        var idle = builder.Configuration.GetValue<TimeSpan?>("IdleTimeout");
        if (builder.Configuration.GetValue("InlineScheduling", false))
        {
            builder.Services.Configure<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>(static o => o.UnsafePreferInlineScheduling = true);
        }

        if (!builder.Configuration.GetValue("WaitForDataBeforeAllocatingBuffer", true))
        {
            // Receive straight into a buffer instead of waiting for data with a zero-byte read first: one receive call per
            // request instead of two, for a buffer held by every idle connection (the benchmark setting; see
            // docs/performance.md).
            builder.Services.Configure<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>(static o => o.WaitForDataBeforeAllocatingBuffer = false);
        }

        configure?.Invoke(builder);
        builder.Services.AddSingleton(static services => new KeyValueStore(services.GetService<TimeProvider>()));
        builder.AddPipelineServer(server => server.Listen(url, endpoint =>
        {
            if (perIp is { } limit)
            {
                endpoint.UseConnectionLimitPerIp(limit);
            }

            if (idle is { } timeout)
            {
                endpoint.UseTimeouts(timeouts => timeouts.IdleTimeout = timeout);
            }

            var store = endpoint.ApplicationServices.GetRequiredService<KeyValueStore>();
            endpoint.UseResp(KeyValueCommands.CreateDispatcher(store, limits), limits);
        }));
        return builder.Build();
    }
}
