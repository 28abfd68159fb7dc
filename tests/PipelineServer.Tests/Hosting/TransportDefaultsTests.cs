using System.Net;
using EchoServer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer.Buffers;
using PipelineServer.Hosting;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Hosting;

/// <summary>The standalone host reads protocol connections into large blocks; apps can override it, and web apps keep theirs.</summary>
public class TransportDefaultsTests
{
    [Fact]
    public async Task AStandaloneServerReadsIntoSixteenKibibyteBlocksAndEchoesFramesSpanningManyOfThem()
    {
        var pools = new PoolRecorder();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.AddPipelineServer(server => server.Listen("tcp://127.0.0.1:0", listen => listen.Use(pools.Record).UseEcho()));
        using var host = builder.Build();
        await host.StartAsync();
        var endPoint = host.Services.GetRequiredService<PipelineServerEndpoints>().Single().EndPoint!;

        await using var client = await TestClient.ConnectAsync(endPoint);
        var large = new byte[100_000];
        new Random(42).NextBytes(large);
        await client.SendFrameAsync(large);
        await client.SendFrameAsync(new byte[] { 7 });

        Assert.Equal(large, await client.ReceiveFrameAsync());
        Assert.Equal([7], await client.ReceiveFrameAsync());
        var pool = Assert.IsType<BlockMemoryPool>(Assert.Single(pools.Seen));
        Assert.Equal(16 * 1024, pool.MaxBufferSize);
        await host.StopAsync();
    }

    [Fact]
    public async Task AMemoryPoolFactoryRegisteredAfterwardsReplacesTheDefault()
    {
        var pools = new PoolRecorder();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.AddPipelineServer(server => server.Listen("tcp://127.0.0.1:0", listen => listen.Use(pools.Record).UseEcho()));
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>>(new BlockMemoryPoolFactory(64 * 1024));
        using var host = builder.Build();
        await host.StartAsync();
        var endPoint = host.Services.GetRequiredService<PipelineServerEndpoints>().Single().EndPoint!;

        await using var client = await TestClient.ConnectAsync(endPoint);
        await client.SendFrameAsync(new byte[] { 1, 2, 3 });
        Assert.Equal([1, 2, 3], await client.ReceiveFrameAsync());

        Assert.Equal(64 * 1024, Assert.Single(pools.Seen).MaxBufferSize);
        await host.StopAsync();
    }

    [Fact]
    public async Task InAWebAppTheAppsOwnKestrelPoolIsLeftAlone()
    {
        var pools = new PoolRecorder();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.AddPipelineServer(server => server.Listen("tcp://127.0.0.1:0", listen => listen.Use(pools.Record).UseEcho()));
        await using var app = builder.Build();
        await app.StartAsync();
        var endPoint = app.Services.GetRequiredService<PipelineServerEndpoints>().Single().EndPoint!;

        await using var client = await TestClient.ConnectAsync(endPoint);
        await client.SendFrameAsync(new byte[] { 1 });
        Assert.Equal([1], await client.ReceiveFrameAsync());

        Assert.IsNotType<BlockMemoryPool>(Assert.Single(pools.Seen));
        await app.StopAsync();
    }

    // Connection middleware noting the transport's pool (Kestrel exposes it as IMemoryPoolFeature).
    private sealed class PoolRecorder
    {
        public List<MemoryPool<byte>> Seen { get; } = [];

        public ConnectionDelegate Record(ConnectionDelegate next) => connection =>
        {
            lock (Seen)
            {
                Seen.Add(connection.Features.Get<IMemoryPoolFeature>()!.MemoryPool);
            }

            return next(connection);
        };
    }
}
