using System.Net;
using EchoServer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer.Hosting;

namespace PipelineServer.LoadTest.Tests.Infrastructure;

/// <summary>
/// Echo-protocol servers on 127.0.0.1 port 0 that misbehave on purpose, built on PipelineServer: the harness must catch
/// each misbehaviour.
/// </summary>
internal sealed class EchoVariantServer : IAsyncDisposable
{
    private readonly IHost _host;

    private EchoVariantServer(IHost host) => _host = host;

    public EndPoint EndPoint => _host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!;

    public Uri Url => new($"tcp://127.0.0.1:{((IPEndPoint)EndPoint).Port}");

    public static async Task<EchoVariantServer> StartAsync(IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>> handler)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.AddPipelineServer(server => server.Listen(
            "tcp://127.0.0.1:0",
            endpoint => endpoint.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler)));
        var host = builder.Build();
        await host.StartAsync();
        return new EchoVariantServer(host);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

/// <summary>Echoes, but every <c>every</c>th response on a connection has its first payload byte flipped.</summary>
internal sealed class CorruptingEchoHandler(int every) : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
{
    public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
    {
        var count = (int)(session.State ?? 0) + 1;
        session.State = count;
        if (count % every != 0 || message.IsEmpty)
        {
            session.Write(message);
            return default;
        }

        var copy = message.ToArray();
        copy[0] ^= 0xFF;
        session.Write(new ReadOnlySequence<byte>(copy));
        return default;
    }
}

/// <summary>Echoes the first <c>limit</c> requests on a connection, then drops it.</summary>
internal sealed class DroppingEchoHandler(int limit) : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
{
    public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
    {
        var count = (int)(session.State ?? 0) + 1;
        session.State = count;
        if (count > limit)
        {
            session.Abort("The test server drops connections after a few requests.");
            return default;
        }

        session.Write(message);
        return default;
    }
}

/// <summary>Echoes each request after a fixed delay: a server with a known, small capacity per connection.</summary>
internal sealed class SlowEchoHandler(TimeSpan delay) : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
{
    public async ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
    {
        var copy = new ReadOnlySequence<byte>(message.ToArray());
        await Task.Delay(delay);
        await session.WriteAsync(copy);
    }
}
