using System.Buffers.Binary;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using EchoServer;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Transports.Memory;

namespace PipelineServer.Benchmarks;

/// <summary>
/// The whole server loop, end to end in memory: a client pipelines 64 echo frames over the in-memory transport, the
/// echo sample's handler answers them through UseProtocol (ProtocolReader, handler, ProtocolWriter, one flush per
/// batch), and the client reads the 64 replies. Per frame; the allocation column covers every thread, so it is the
/// whole loop's steady-state allocation per request (client, transport pumps and server together).
/// <see cref="Middleware"/> adds the production chain a server would run: timeouts (idle, slow message), a
/// per-connection message rate limit (high enough never to bite) and a listener on the PipelineServer meter, so the
/// figure shows what they cost per message.
/// </summary>
[Config(typeof(BenchmarkConfig))]
public class EchoLoopBenchmarks
{
    private const int Frames = 64;

    private MemoryTransport _transport = null!;
    private IConnectionListener _listener = null!;
    private ConnectionContext _client = null!;
    private Task _server = null!;
    private byte[] _batch = null!;

    private MeterListener? _meterListener;

    [Params(16, 1024)]
    public int PayloadSize { get; set; }

    [Params(false, true)]
    public bool Middleware { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _transport = new MemoryTransport();
        var endPoint = new MemoryEndPoint("bench");
        _listener = _transport.BindAsync(endPoint).AsTask().GetAwaiter().GetResult();
        var builder = new ConnectionBuilder(new EmptyServices());
        if (Middleware)
        {
            builder.UseTimeouts(static t => { t.IdleTimeout = TimeSpan.FromMinutes(5); t.SlowMessageTimeout = TimeSpan.FromSeconds(30); });
            builder.UseMessageRateLimit(static r => r.PerConnection = 100_000_000);
            _meterListener = new MeterListener
            {
                InstrumentPublished = static (instrument, listener) =>
                {
                    if (instrument.Meter.Name == "PipelineServer")
                    {
                        listener.EnableMeasurementEvents(instrument);
                    }
                },
            };
            _meterListener.SetMeasurementEventCallback<long>(static (_, _, _, _) => { });
            _meterListener.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
            _meterListener.Start();
        }

        var application = builder.UseEcho().Build();
        _client = _transport.ConnectAsync(endPoint).AsTask().GetAwaiter().GetResult();
        var server = _listener.AcceptAsync().AsTask().GetAwaiter().GetResult()!;
        _server = Task.Run(() => application(server));

        _batch = new byte[Frames * (4 + PayloadSize)];
        for (var i = 0; i < Frames; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(_batch.AsSpan(i * (4 + PayloadSize)), PayloadSize);
        }

        if (PipelinedBatch().AsTask().GetAwaiter().GetResult() != Frames * (4 + PayloadSize))
        {
            throw new InvalidOperationException("The echo did not return every byte.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _server.GetAwaiter().GetResult();
        _listener.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _meterListener?.Dispose();
    }

    // Pooled, so that the benchmark's own await does not show up as an allocation of the loop under test.
    [Benchmark(OperationsPerInvoke = Frames)]
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<long> PipelinedBatch()
    {
        var output = _client.Transport.Output;
        var input = _client.Transport.Input;
        await output.WriteAsync(_batch);

        long received = 0;
        while (received < _batch.Length)
        {
            var result = await input.ReadAsync();
            received += result.Buffer.Length;
            input.AdvanceTo(result.Buffer.End);
        }

        return received;
    }

    private sealed class EmptyServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }
}
