using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer;

namespace EchoServer;

/// <summary>Builds the echo server's host from standard .NET configuration (appsettings.json, environment, command line).</summary>
public static class EchoServerHost
{
    /// <summary>
    /// Creates the host. Settings (all optional; durations in <c>TimeSpan</c> format, <c>00:00:05</c>):
    /// <c>Url</c> (default <c>tcp://127.0.0.1:7000</c>), <c>MaxFrameLength</c> (default 1 MiB, length field included),
    /// <c>MaxConnections</c>, and the limits that are on unless set to <c>0</c> (defaults from
    /// <see cref="RecommendedLimits"/>): <c>MaxConnectionsPerIp</c> (100), <c>FirstMessageTimeout</c> (10 s),
    /// <c>IdleTimeout</c> (5 min), <c>SlowMessageTimeout</c> (30 s), <c>WriteTimeout</c> (30 s);
    /// <c>Tls:CertificatePath</c> (a PKCS#12 file), <c>Tls:CertificatePassword</c>, <c>Tls:ClientCertificateMode</c>
    /// (<c>NoCertificate</c>, <c>AllowCertificate</c>, <c>RequireCertificate</c>), <c>ProxyProtocol:Mode</c> (<c>Off</c>,
    /// <c>Optional</c>, <c>Required</c>), <c>ProxyProtocol:TrustedNetworks</c> (CIDR, comma-separated),
    /// <c>RateLimit:MessagesPerSecond</c> (per connection), <c>RateLimit:OnExceeded</c> (<c>Backpressure</c>, the default, or
    /// <c>Close</c>), <c>HexDump</c> (<c>true</c> to log traffic). For example
    /// <c>--Url tcp://0.0.0.0:7000 --IdleTimeout 00:01:00 --MaxConnectionsPerIp 10</c>.
    /// </summary>
    /// <param name="args">Command-line arguments.</param>
    /// <param name="configure">Extra configuration of the builder (tests use it to capture logs).</param>
    /// <returns>The host, not started.</returns>
    public static IHost Create(string[] args, Action<HostApplicationBuilder>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(args);
        var settings = EchoSettings.Read(builder.Configuration);
        if (settings.MaxConnections is { } maxConnections)
        {
            builder.Services.Configure<KestrelServerOptions>(kestrel => kestrel.Limits.MaxConcurrentConnections = maxConnections);
        }

        if (settings.HexDump)
        {
            builder.Logging.AddFilter("PipelineServer.HexDump", LogLevel.Debug);
        }

        configure?.Invoke(builder);
        builder.AddPipelineServer(server => server.Listen(settings.Url, settings.Configure));
        var host = builder.Build();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(EchoServerHost).FullName!);
        SampleLog.Limits(logger, Describe(settings.MaxConnectionsPerIp), Describe(settings.FirstMessageTimeout), Describe(settings.IdleTimeout), Describe(settings.SlowMessageTimeout), Describe(settings.WriteTimeout));
        return host;
    }

    private static string Describe<T>(T? limit)
        where T : struct => limit?.ToString() ?? "off";

    private sealed record EchoSettings(
        string Url,
        int MaxFrameLength,
        long? MaxConnections,
        int? MaxConnectionsPerIp,
        TimeSpan? FirstMessageTimeout,
        TimeSpan? IdleTimeout,
        TimeSpan? SlowMessageTimeout,
        TimeSpan? WriteTimeout,
        X509Certificate2? Certificate,
        ClientCertificateMode ClientCertificateMode,
        ProxyProtocolMode ProxyMode,
        IPNetwork[] TrustedNetworks,
        int? MessagesPerSecond,
        RateLimitExceededAction OnRateLimitExceeded,
        bool HexDump)
    {
        public static EchoSettings Read(IConfiguration configuration)
        {
            var certificatePath = configuration["Tls:CertificatePath"];
            return new EchoSettings(
                configuration["Url"] ?? EchoProtocol.DefaultUrl,
                configuration.GetValue("MaxFrameLength", EchoProtocol.DefaultMaxFrameLength),
                configuration.GetValue<long?>("MaxConnections"),
                Limit(configuration, "MaxConnectionsPerIp", RecommendedLimits.MaxConnectionsPerIp),
                Limit(configuration, "FirstMessageTimeout", RecommendedLimits.FirstMessageTimeout),
                Limit(configuration, "IdleTimeout", RecommendedLimits.IdleTimeout),
                Limit(configuration, "SlowMessageTimeout", RecommendedLimits.SlowMessageTimeout),
                Limit(configuration, "WriteTimeout", RecommendedLimits.WriteTimeout),
                string.IsNullOrEmpty(certificatePath) ? null : X509CertificateLoader.LoadPkcs12FromFile(certificatePath, configuration["Tls:CertificatePassword"]),
                configuration.GetValue("Tls:ClientCertificateMode", ClientCertificateMode.NoCertificate),
                configuration.GetValue("ProxyProtocol:Mode", ProxyProtocolMode.Off),
                [.. (configuration["ProxyProtocol:TrustedNetworks"] ?? string.Empty)
                    .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(IPNetwork.Parse)],
                configuration.GetValue<int?>("RateLimit:MessagesPerSecond"),
                configuration.GetValue("RateLimit:OnExceeded", RateLimitExceededAction.Backpressure),
                configuration.GetValue("HexDump", false));
        }

        // A limit that is on by default: its setting, or the recommended value when there is none; 0 turns it off.
        private static T? Limit<T>(IConfiguration configuration, string key, T recommended)
            where T : struct, IComparable<T>
        {
            var value = configuration.GetValue<T?>(key) ?? recommended;
            return value.CompareTo(default) > 0 ? value : null;
        }

        // The chain in the order the layers meet the wire: PROXY header, per-IP limit (on the real client address), TLS,
        // then what looks at plaintext messages.
        public void Configure(ListenOptions endpoint)
        {
            if (ProxyMode != ProxyProtocolMode.Off)
            {
                endpoint.UseProxyProtocol(proxy =>
                {
                    proxy.Mode = ProxyMode;
                    foreach (var network in TrustedNetworks)
                    {
                        proxy.TrustedNetworks.Add(network);
                    }
                });
            }

            if (MaxConnectionsPerIp is { } perIp)
            {
                endpoint.UseConnectionLimitPerIp(perIp);
            }

            if (Certificate is not null)
            {
                endpoint.UseTls(tls =>
                {
                    tls.ServerCertificate = Certificate;
                    tls.ClientCertificateMode = ClientCertificateMode;
                });
            }

            if (HexDump)
            {
                endpoint.UseHexDump();
            }

            if (FirstMessageTimeout is not null || IdleTimeout is not null || SlowMessageTimeout is not null || WriteTimeout is not null)
            {
                endpoint.UseTimeouts(timeouts =>
                {
                    timeouts.FirstMessageTimeout = FirstMessageTimeout;
                    timeouts.IdleTimeout = IdleTimeout;
                    timeouts.SlowMessageTimeout = SlowMessageTimeout;
                    timeouts.WriteTimeout = WriteTimeout;
                });
            }

            if (MessagesPerSecond is { } rate)
            {
                endpoint.UseMessageRateLimit(limit =>
                {
                    limit.PerConnection = rate;
                    limit.OnExceeded = OnRateLimitExceeded;
                });
            }

            endpoint.UseEcho(MaxFrameLength);
        }
    }
}

internal static partial class SampleLog
{
    [LoggerMessage(1, LogLevel.Information, "Limits: per-IP connections {PerIp}, first-message timeout {FirstMessage}, idle timeout {Idle}, slow-message timeout {SlowMessage}, write timeout {Write}.", EventName = "Limits")]
    public static partial void Limits(ILogger logger, string perIp, string firstMessage, string idle, string slowMessage, string write);
}
