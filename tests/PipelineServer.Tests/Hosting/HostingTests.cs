using System.Net;
using System.Net.Sockets;
using EchoServer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer.Hosting;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Hosting;

public class HostingTests
{
    private static HostApplicationBuilder NewHostBuilder(TestLoggerProvider logs)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        return builder;
    }

    private static async Task AssertEchoesAsync(EndPoint endPoint)
    {
        await using var client = await TestClient.ConnectAsync(endPoint);
        await client.SendFrameAsync(new byte[] { 1, 2, 3 });
        Assert.Equal([1, 2, 3], await client.ReceiveFrameAsync());
    }

    [Fact]
    public async Task AStandaloneServerServesNoHttpAndLogsItsEndpointsAsProtocolUrls()
    {
        var logs = new TestLoggerProvider();
        var builder = NewHostBuilder(logs);
        builder.AddPipelineServer(server => server.Listen("tcp://127.0.0.1:0", listen => listen.UseEcho()));
        using var host = builder.Build();
        await host.StartAsync();

        var endpoint = host.Services.GetRequiredService<PipelineServerEndpoints>().Single();
        var port = ((IPEndPoint)endpoint.EndPoint!).Port;
        Assert.NotEqual(0, port);
        Assert.Equal($"tcp://127.0.0.1:{port}", endpoint.Url);
        Assert.Contains(logs.Records, r => r.Message == $"PipelineServer listening on tcp://127.0.0.1:{port}");
        Assert.DoesNotContain(logs.Records, static r => r.Message.Contains("http://", StringComparison.OrdinalIgnoreCase));
        // Kestrel's default (http://localhost:5000) is not bound: the endpoint above is the only one.
        Assert.Single(host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses);
        await AssertEchoesAsync(endpoint.EndPoint!);

        await host.StopAsync();
    }

    [Fact]
    public async Task ProtocolEndpointsJoinAWebAppsKestrelBesideItsHttpEndpointsSharingOneContainer()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Services.AddSingleton<SharedCounter>();
        builder.AddPipelineServer(server => server.Listen("tcp://127.0.0.1:0", listen => listen.UseProtocol(
            EchoProtocol.CreateReader(),
            EchoProtocol.Writer,
            new CountingEchoHandler())));
        await using var app = builder.Build();
        app.MapGet("/health", () => "healthy");
        await app.StartAsync();

        var protocol = (IPEndPoint)app.Services.GetRequiredService<PipelineServerEndpoints>().Single().EndPoint!;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var http = addresses.Select(static a => new Uri(a)).Single(u => u.Port != protocol.Port);
        using var httpClient = new HttpClient { BaseAddress = http };
        Assert.Equal("healthy", await httpClient.GetStringAsync("/health"));

        await AssertEchoesAsync(protocol);
        await AssertEchoesAsync(protocol);
        Assert.Equal(2, app.Services.GetRequiredService<SharedCounter>().Count);

        await app.StopAsync();
    }

    [Fact]
    public async Task SeveralRegistrationsAddUp()
    {
        var logs = new TestLoggerProvider();
        var builder = NewHostBuilder(logs);
        builder.AddPipelineServer(server => server.Listen("tcp://127.0.0.1:0", listen => listen.UseEcho()));
        builder.AddPipelineServer(server => server
            .Listen(new IPEndPoint(IPAddress.Loopback, 0), listen => listen.UseEcho())
            .Endpoint("named", "tcp://127.0.0.1:0", listen => listen.UseEcho()));
        using var host = builder.Build();
        await host.StartAsync();

        var endpoints = host.Services.GetRequiredService<PipelineServerEndpoints>();
        Assert.Equal(3, endpoints.Count);
        Assert.Equal(3, endpoints.Select(static e => e.EndPoint).Distinct().Count());
        foreach (var endpoint in endpoints)
        {
            await AssertEchoesAsync(endpoint.EndPoint!);
        }

        await host.StopAsync();
    }

    [Fact]
    public void RegisteringTwoEndpointsUnderOneNameIsAnError()
    {
        var builder = NewHostBuilder(new TestLoggerProvider());
        builder.AddPipelineServer(server => server.Endpoint("echo", "tcp://127.0.0.1:0", listen => listen.UseEcho()));

        var ex = Assert.Throws<InvalidOperationException>(() =>
            builder.AddPipelineServer(server => server.Endpoint("ECHO", "tcp://127.0.0.1:0", listen => listen.UseEcho())));

        Assert.Contains("already registered", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ANamedEndpointTakesItsUrlFromConfiguration()
    {
        var builder = NewHostBuilder(new TestLoggerProvider());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PipelineServer:Endpoints:echo:Url"] = "tcp://127.0.0.1:0",
        });
        builder.AddPipelineServer(server => server.Endpoint("echo", "tcp://192.0.2.1:1", listen => listen.UseEcho()));
        using var host = builder.Build();
        await host.StartAsync();

        var endpoint = host.Services.GetRequiredService<PipelineServerEndpoints>()["echo"];
        Assert.Equal("tcp://127.0.0.1:0", endpoint.ConfiguredUrl);
        await AssertEchoesAsync(endpoint.EndPoint!);

        await host.StopAsync();
    }

    [Fact]
    public async Task ANamedEndpointWithoutAConfiguredUrlFailsToStartWithAClearMessage()
    {
        var builder = NewHostBuilder(new TestLoggerProvider());
        builder.AddPipelineServer(server => server.Endpoint("orders", listen => listen.UseEcho()));
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.Contains("PipelineServer:Endpoints:orders:Url", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServesAUnixDomainSocket()
    {
        var path = Path.Combine(Path.GetTempPath(), $"ps-{Guid.NewGuid():N}.sock");
        try
        {
            var builder = NewHostBuilder(new TestLoggerProvider());
            builder.AddPipelineServer(server => server.Listen("unix:" + path, listen => listen.UseEcho()));
            using var host = builder.Build();
            await host.StartAsync();

            Assert.Equal("unix:" + path, host.Services.GetRequiredService<PipelineServerEndpoints>()[0].Url);
            await AssertEchoesAsync(new UnixDomainSocketEndPoint(path));

            await host.StopAsync();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task WithoutEndpointsTheServerDoesNotStartAndSaysSo()
    {
        var logs = new TestLoggerProvider();
        var builder = NewHostBuilder(logs);
        builder.AddPipelineServer(static _ => { });
        using var host = builder.Build();
        await host.StartAsync();

        Assert.Contains(logs.Records, static r => r.EventId.Name == "NoEndpoints" && r.Level == LogLevel.Warning);
        await Assert.ThrowsAsync<SocketException>(async () =>
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, 5000));
        });

        await host.StopAsync();
    }

    private sealed class SharedCounter
    {
        private int _count;

        public int Count => _count;

        public void Increment() => Interlocked.Increment(ref _count);
    }

    private sealed class CountingEchoHandler : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        public ValueTask OnConnectedAsync(ProtocolSession<ReadOnlySequence<byte>> session)
        {
            session.Services.GetRequiredService<SharedCounter>().Increment();
            return default;
        }

        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            session.Write(message);
            return default;
        }
    }
}
