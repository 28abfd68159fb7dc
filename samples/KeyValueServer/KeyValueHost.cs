using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer;
using PipelineServer.Resp;

namespace KeyValueServer;

/// <summary>Builds the key-value server's host from standard .NET configuration.</summary>
public static class KeyValueHost
{
    /// <summary>The default endpoint: loopback, one above Redis's port so both can run side by side.</summary>
    public const string DefaultUrl = "tcp://127.0.0.1:6380";

    /// <summary>The answer to a connection refused at the per-IP limit, in redis-server's words for its own limit.</summary>
    public static ReadOnlyMemory<byte> MaxClientsReached { get; } = "-ERR max number of clients reached\r\n"u8.ToArray();

    /// <summary>
    /// Creates the host. Settings: <c>Url</c> (default <c>tcp://127.0.0.1:6380</c>), <c>MaxBulkLength</c> (bytes, default
    /// 512 MiB as Redis; also the longest value APPEND builds); the limits that are on unless set to <c>0</c> (defaults
    /// from <see cref="RecommendedLimits"/>): <c>MaxConnectionsPerIp</c> (100; a refused client reads
    /// <c>-ERR max number of clients reached</c>), <c>FirstMessageTimeout</c> (10 s), <c>IdleTimeout</c> (5 min),
    /// <c>SlowMessageTimeout</c> (30 s), <c>WriteTimeout</c> (30 s); and two transport settings for benchmarks:
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
        var configuration = builder.Configuration;
        var perIp = configuration.GetValue("MaxConnectionsPerIp", RecommendedLimits.MaxConnectionsPerIp);
        var firstMessage = configuration.GetValue("FirstMessageTimeout", RecommendedLimits.FirstMessageTimeout);
        var idle = configuration.GetValue("IdleTimeout", RecommendedLimits.IdleTimeout);
        var slowMessage = configuration.GetValue("SlowMessageTimeout", RecommendedLimits.SlowMessageTimeout);
        var write = configuration.GetValue("WriteTimeout", RecommendedLimits.WriteTimeout);
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
            if (perIp > 0)
            {
                endpoint.UseConnectionLimitPerIp(options =>
                {
                    options.Limit = perIp;
                    options.RefusalMessage = MaxClientsReached;
                });
            }

            // A zero duration turns that timeout off.
            static TimeSpan? On(TimeSpan timeout) => timeout > TimeSpan.Zero ? timeout : null;
            if (On(firstMessage) is not null || On(idle) is not null || On(slowMessage) is not null || On(write) is not null)
            {
                endpoint.UseTimeouts(timeouts =>
                {
                    timeouts.FirstMessageTimeout = On(firstMessage);
                    timeouts.IdleTimeout = On(idle);
                    timeouts.SlowMessageTimeout = On(slowMessage);
                    timeouts.WriteTimeout = On(write);
                });
            }

            var store = endpoint.ApplicationServices.GetRequiredService<KeyValueStore>();
            endpoint.UseResp(KeyValueCommands.CreateDispatcher(store, limits), limits);
        }));
        var host = builder.Build();
        static string Describe(TimeSpan timeout) => timeout > TimeSpan.Zero ? timeout.ToString() : "off";
        SampleLog.Limits(
            host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(KeyValueHost).FullName!),
            perIp > 0 ? perIp.ToString(System.Globalization.CultureInfo.InvariantCulture) : "off",
            Describe(firstMessage),
            Describe(idle),
            Describe(slowMessage),
            Describe(write));
        return host;
    }
}

internal static partial class SampleLog
{
    [LoggerMessage(1, LogLevel.Information, "Limits: per-IP connections {PerIp}, first-message timeout {FirstMessage}, idle timeout {Idle}, slow-message timeout {SlowMessage}, write timeout {Write}.", EventName = "Limits")]
    public static partial void Limits(ILogger logger, string perIp, string firstMessage, string idle, string slowMessage, string write);
}
