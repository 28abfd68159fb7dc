using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using EchoServer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Tests.Infrastructure;
using static PipelineServer.Tests.Middleware.MiddlewareTestKit;

namespace PipelineServer.Tests.Reliability;

// A peer must not be able to flood the log or make the server wait for its log sink: peers' faults are logged per
// connection at Debug, and summarised by one Warning a period from a timer.
public class LogFloodTests
{
    private const string Closed = "pipelineserver.closed_connections";
    private static readonly byte[] s_oversizeHeader = [0x00, 0x00, 0x10, 0x00]; // 4 KiB declared, 1 KiB allowed

    private static Task<TestHost> StartAsync(TransportKind transport, TimeProvider time, ILoggerProvider? extraLogs = null) =>
        TestHost.StartAsync(
            transport,
            listen => listen.UseEcho(maxFrameLength: 1024),
            builder =>
            {
                builder.Services.AddSingleton(time);
                if (extraLogs is not null)
                {
                    builder.Logging.AddProvider(extraLogs);
                }
            });

    private static async Task SendBadHeadersAsync(TestHost host, int connections)
    {
        for (var i = 0; i < connections; i++)
        {
            await using var client = await host.ConnectAsync();
            await client.SendAsync(s_oversizeHeader);
            await client.WaitForCloseAsync();
        }
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ProtocolErrorsAreLoggedAtDebugAndSummarisedByAtMostOneWarningAPeriod(TransportKind transport)
    {
        var time = new FakeTimeProvider();
        await using var host = await StartAsync(transport, time);
        using var metrics = new MetricsRecorder(host.Services);

        await SendBadHeadersAsync(host, 30);
        await metrics.WaitForAsync(Closed, 30, "protocol_error");

        Assert.All(host.Logs.Records.Where(static r => r.EventId.Name == "ProtocolError"), static r => Assert.Equal(LogLevel.Debug, r.Level));
        Assert.Equal(30, host.Logs.Records.Count(static r => r.EventId.Name == "ProtocolError"));
        Assert.DoesNotContain(host.Logs.Records, static r => r.Level >= LogLevel.Information && r.Category.StartsWith("PipelineServer.Protocol", StringComparison.Ordinal));

        // The timer writes the summary (synchronously inside Advance, on a fake clock) once the period is over.
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.Empty(Summaries(host));
        time.Advance(TimeSpan.FromSeconds(1));
        var summary = Assert.Single(Summaries(host));
        Assert.Equal(LogLevel.Warning, summary.Level);
        Assert.Contains("30 connections were closed for their peers' faults in the last 10 s: protocol_error 30", summary.Message, StringComparison.Ordinal);

        // More faults: the next summary comes a period after the first of them, not before.
        await SendBadHeadersAsync(host, 5);
        await metrics.WaitForAsync(Closed, 35, "protocol_error");
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Single(Summaries(host));
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(2, Summaries(host).Count);
        Assert.Contains("protocol_error 5", Summaries(host)[1].Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task TimeoutsRateLimitsAndRefusalsAreLoggedAtDebugAndJoinTheSummary(TransportKind transport)
    {
        var time = new FakeTimeProvider();
        using var started = new SemaphoreSlim(0);
        await using var host = await TestHost.StartAsync(
            transport,
            listen =>
            {
                listen.GiveMemoryConnectionsAnAddress(transport, IPAddress.Loopback);
                listen.UseLifecycleLogging();
                listen.Use(next => connection =>
                {
                    // Released once the chain has run to its first wait: the timeout middleware has the connection.
                    var running = next(connection);
                    started.Release();
                    return running;
                });
                listen.UseConnectionLimitPerIp(1);
                listen.UseTimeouts(options => options.FirstMessageTimeout = TimeSpan.FromSeconds(1));
                listen.UseMessageRateLimit(options =>
                {
                    options.PerConnection = 1;
                    options.OnExceeded = RateLimitExceededAction.Close;
                });
                listen.UseEcho();
            },
            builder => builder.Services.AddSingleton<TimeProvider>(time));
        using var metrics = new MetricsRecorder(host.Services);

        await using (var flooder = await host.ConnectAsync())
        {
            await started.WaitAsync(TestClient.Timeout);
            await flooder.SendAsync((byte[])[.. TestClient.Frame([1]), .. TestClient.Frame([2])]);
            Assert.Equal([1], await flooder.ReceiveFrameAsync());
            await flooder.WaitForCloseAsync();
        }

        await host.Logs.WaitForEventAsync("ConnectionClosed");
        await using var silent = await host.ConnectAsync();
        await started.WaitAsync(TestClient.Timeout);
        await using var refused = await host.ConnectAsync();
        await refused.WaitForCloseAsync();
        time.Advance(TimeSpan.FromSeconds(2));
        await silent.WaitForCloseAsync();
        await metrics.WaitForAsync(Closed, 1, "first_message_timeout");

        foreach (var name in (string[])["RateLimitExceeded", "PerIpLimitReached", "ConnectionTimedOut"])
        {
            Assert.Equal(LogLevel.Debug, (await host.Logs.WaitForEventAsync(name)).Level);
        }

        time.Advance(TimeSpan.FromSeconds(8));
        var summary = Assert.Single(Summaries(host));
        Assert.Contains("3 connections were closed for their peers' faults in the last 10 s: first_message_timeout 1, rate_limit 1, ip_limit 1", summary.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task PeerFaultsNeverWaitForALogSinkThatBlocks(TransportKind transport)
    {
        using var sink = new BlockingLoggerProvider();
        await using var host = await StartAsync(transport, new FakeTimeProvider(), sink);
        using var metrics = new MetricsRecorder(host.Services);
        try
        {
            // From here on, any log call at Information or above waits until the end of the test.
            sink.Block();

            await SendBadHeadersAsync(host, 20);
            for (var i = 0; i < 20; i++)
            {
                var client = await host.ConnectAsync();
                await client.SendAsync(s_oversizeHeader.AsMemory(0, 2));
                client.Reset();
                await client.DisposeAsync();
            }

            await metrics.WaitForAsync(Closed, 20, "protocol_error");
            await metrics.WaitForAsync(Closed, 20, "reset");
            await using var good = await host.ConnectAsync();
            await good.SendFrameAsync(new byte[] { 9 });
            Assert.Equal([9], await good.ReceiveFrameAsync());
            Assert.Equal(0, sink.Blocked);
        }
        finally
        {
            sink.Release();
        }
    }

    [Fact]
    public async Task ACorruptedTlsRecordAfterTheHandshakeIsAPeerFaultNotAHandlerError()
    {
        var alpn = new SslApplicationProtocol("echo/1");
        await using var host = await TestHost.StartAsync(TransportKind.Sockets, listen =>
        {
            listen.UseTls(tls =>
            {
                tls.ServerCertificate = TestCertificates.Server;
                tls.ApplicationProtocols.Add(alpn);
            });
            listen.UseEcho();
        });
        using var metrics = new MetricsRecorder(host.Services);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(host.EndPoint);
        await using var network = new NetworkStream(socket);
        await using var tls = new SslStream(network, leaveInnerStreamOpen: true, static (_, _, _, _) => true);
        using var cts = new CancellationTokenSource(TestClient.Timeout);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", ApplicationProtocols = [alpn] }, cts.Token);
        await tls.WriteAsync(TestClient.Frame([5]), cts.Token);
        var reply = new byte[5];
        await tls.ReadExactlyAsync(reply, cts.Token);

        // An application-data record whose ciphertext is garbage, under the TLS layer's feet.
        await network.WriteAsync((byte[])[0x17, 0x03, 0x03, 0x00, 0x40, .. new byte[0x40]], cts.Token);

        await metrics.WaitForAsync(Closed, 1, "transport_error");
        var logged = await host.Logs.WaitForEventAsync("TransportError");
        Assert.Equal(LogLevel.Debug, logged.Level);
        Assert.Empty(host.Errors);
        await using var other = await host.ClientFactory(builder => builder.UseTls(options =>
        {
            options.TargetHost = "localhost";
            options.ApplicationProtocols.Add(alpn);
            options.RemoteCertificateValidation = static (_, _, _, _) => true;
        })).ConnectAsync(host.EndPoint, cts.Token);
        await other.Transport.Output.WriteAsync(TestClient.Frame([6]), cts.Token);
        var echoed = await other.Transport.Input.ReadAtLeastAsync(5, cts.Token);
        Assert.Equal(TestClient.Frame([6]), echoed.Buffer.Slice(0, 5).ToArray());
    }

    private static List<LogRecord> Summaries(TestHost host) =>
        [.. host.Logs.Records.Where(static r => r.EventId.Name == "PeerFaults")];

    // A log sink that, once blocked, holds every caller of a record at Information or above until released: what a
    // slow or stuck sink does to whoever logs.
    private sealed class BlockingLoggerProvider : ILoggerProvider
    {
        private readonly ManualResetEventSlim _open = new(true);
        private int _blocked;

        public int Blocked => Volatile.Read(ref _blocked);

        public void Block() => _open.Reset();

        public void Release() => _open.Set();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
            _open.Set();
            _open.Dispose();
        }

        private sealed class Logger(BlockingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (!IsEnabled(logLevel) || owner._open.IsSet)
                {
                    return;
                }

                Interlocked.Increment(ref owner._blocked);
                owner._open.Wait();
                Interlocked.Decrement(ref owner._blocked);
            }
        }
    }
}
