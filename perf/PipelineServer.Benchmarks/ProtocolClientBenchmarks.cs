using System.Buffers;
using BenchmarkDotNet.Attributes;
using EchoServer;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Client;
using PipelineServer.Protocols;
using PipelineServer.Transports.Memory;

namespace PipelineServer.Benchmarks;

/// <summary>
/// Request/response round trips through ProtocolClient (ordered mode) over the in-memory transport to the echo sample's
/// handler. Responses are decoded to their length, so the allocation column is the client machinery's own (plus the
/// server's and the transport's, which are 0): the goal is at most one small allocation per request.
/// </summary>
[Config(typeof(BenchmarkConfig))]
public class ProtocolClientBenchmarks
{
    private const int Requests = 1024;
    private static readonly IMessageReader<int> s_responses = EchoProtocol.CreateReader().Select(static frame => (int)frame.Length);

    private IConnectionListener _listener = null!;
    private Task _server = null!;
    private ProtocolClient<ReadOnlySequence<byte>, int> _client = null!;
    private ReadOnlySequence<byte> _payload;
    private ValueTask<int>[] _inFlight = null!;

    private readonly CancellationTokenSource _cancellation = new();
    private CancellationToken _token;

    [Params(1, 32)]
    public int Concurrency { get; set; }

    // With a token that can be cancelled (one for every request, as an application's stopping token is), each request
    // registers and disposes a cancellation callback.
    [Params(false, true)]
    public bool WithToken { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        var transport = new MemoryTransport();
        var endPoint = new MemoryEndPoint("client-bench");
        _listener = await transport.BindAsync(endPoint);
        var application = new ConnectionBuilder(new EmptyServices()).UseEcho().Build();
        var connecting = transport.ConnectAsync(endPoint);
        var server = (await _listener.AcceptAsync())!;
        _server = Task.Run(() => application(server));
        _client = ProtocolClient.Start(await connecting, s_responses, EchoProtocol.Writer);
        _payload = new ReadOnlySequence<byte>(new byte[32]);
        _inFlight = new ValueTask<int>[Concurrency];
        _token = WithToken ? _cancellation.Token : default;
        if (await RoundTrips() != 32 * Requests)
        {
            throw new InvalidOperationException("An echo came back wrong.");
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _client.DisposeAsync();
        await _server;
        await _listener.DisposeAsync();
        _cancellation.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Requests)]
    public Task<int> RoundTrips() => RoundTripsAsync();

    private async Task<int> RoundTripsAsync()
    {
        var bytes = 0;
        for (var sent = 0; sent < Requests; sent += Concurrency)
        {
            for (var i = 0; i < Concurrency; i++)
            {
                _inFlight[i] = _client.RequestAsync(_payload, _token);
            }

            for (var i = 0; i < Concurrency; i++)
            {
                bytes += await _inFlight[i];
            }
        }

        return bytes;
    }

    private sealed class EmptyServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }
}
