using System.Buffers;
using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using EchoServer;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using PipelineServer.Client;
using PipelineServer.Hosting;
using PipelineServer.Protocols;

namespace PipelineServer.Benchmarks;

/// <summary>
/// The yardstick for the client socket transport: the same request/response load (ProtocolClient, ordered mode, the
/// echo protocol, 32-byte payloads) against one in-process echo server over loopback, through a connection from
/// PipelineServer's SocketConnectionFactory and through one from Kestrel's public SocketConnectionContextFactory
/// (the baseline). Per request; Concurrency requests are in flight at once.
/// </summary>
[Config(typeof(BenchmarkConfig))]
public class ClientTransportBenchmarks
{
    private static readonly IMessageReader<int> s_responses = EchoProtocol.CreateReader().Select(static frame => (int)frame.Length);

    private IHost _server = null!;
    private SocketConnectionContextFactory _kestrelFactory = null!;
    private ProtocolClient<ReadOnlySequence<byte>, int> _kestrel = null!;
    private ProtocolClient<ReadOnlySequence<byte>, int> _ours = null!;
    private ReadOnlySequence<byte> _payload;
    private ValueTask<int>[] _inFlight = null!;

    [Params(1, 32)]
    public int Concurrency { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.AddPipelineServer(server => server.Listen("tcp://127.0.0.1:0", listen => listen.UseEcho()));
        _server = builder.Build();
        await _server.StartAsync();
        var endPoint = (IPEndPoint)_server.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!;

        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        _kestrelFactory = new SocketConnectionContextFactory(new SocketConnectionFactoryOptions(), NullLogger.Instance);
        _kestrel = ProtocolClient.Start(_kestrelFactory.Create(socket), s_responses, EchoProtocol.Writer);
        _ours = await ProtocolClient.ConnectAsync(new SocketConnectionFactory(), endPoint, s_responses, EchoProtocol.Writer);

        _payload = new ReadOnlySequence<byte>(new byte[32]);
        _inFlight = new ValueTask<int>[Concurrency];
        if (await RoundTrips(_kestrel) != 32 * Concurrency || await RoundTrips(_ours) != 32 * Concurrency)
        {
            throw new InvalidOperationException("An echo came back wrong.");
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _kestrel.DisposeAsync();
        await _ours.DisposeAsync();
        _kestrelFactory.Dispose();
        await _server.StopAsync();
        _server.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = 1024)]
    public Task<int> KestrelSocketConnection() => RoundTrips(_kestrel, 1024);

    [Benchmark(OperationsPerInvoke = 1024)]
    public Task<int> PipelineServerSocketConnection() => RoundTrips(_ours, 1024);

    private Task<int> RoundTrips(ProtocolClient<ReadOnlySequence<byte>, int> client) => RoundTrips(client, Concurrency);

    // `total` requests, `Concurrency` at a time: each wave is written together and awaited together.
    private async Task<int> RoundTrips(ProtocolClient<ReadOnlySequence<byte>, int> client, int total)
    {
        var bytes = 0;
        for (var sent = 0; sent < total; sent += Concurrency)
        {
            for (var i = 0; i < Concurrency; i++)
            {
                _inFlight[i] = client.RequestAsync(_payload);
            }

            for (var i = 0; i < Concurrency; i++)
            {
                bytes += await _inFlight[i];
            }
        }

        return bytes;
    }
}
