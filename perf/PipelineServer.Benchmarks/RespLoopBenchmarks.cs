using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using BenchmarkDotNet.Attributes;
using KeyValueServer;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Resp;
using PipelineServer.Transports.Memory;

namespace PipelineServer.Benchmarks;

/// <summary>
/// The RESP server loop end to end in memory: a client pipelines 64 GET (or SET) commands to the KeyValueServer
/// sample's dispatcher over the in-memory transport and reads the 64 replies. Per command; the allocation column counts
/// every thread, so a GET's should be zero (a SET allocates the value it stores).
/// </summary>
[Config(typeof(BenchmarkConfig))]
public class RespLoopBenchmarks
{
    private const int Commands = 64;

    private MemoryTransport _transport = null!;
    private IConnectionListener _listener = null!;
    private ConnectionContext _client = null!;
    private Task _server = null!;
    private KeyValueStore _store = null!;
    private byte[] _batch = null!;
    private int _replyBytes;

    [Params("GET", "SET")]
    public string Command { get; set; } = "GET";

    [GlobalSetup]
    public void Setup()
    {
        _store = new KeyValueStore();
        _transport = new MemoryTransport();
        var endPoint = new MemoryEndPoint("resp-bench");
        _listener = _transport.BindAsync(endPoint).AsTask().GetAwaiter().GetResult();
        var application = new ConnectionBuilder(new EmptyServices()).UseResp(KeyValueCommands.CreateDispatcher(_store)).Build();
        _client = _transport.ConnectAsync(endPoint).AsTask().GetAwaiter().GetResult();
        var server = _listener.AcceptAsync().AsTask().GetAwaiter().GetResult()!;
        _server = Task.Run(() => application(server));

        var batch = new ArrayBufferWriter<byte>();
        for (var i = 0; i < Commands; i++)
        {
            var key = Encoding.ASCII.GetBytes($"key:{i:D4}");
            RespWriter.WriteAggregateHeader(batch, RespType.Array, Command == "SET" ? 3 : 2, 2);
            RespWriter.WriteBulkString(batch, Encoding.ASCII.GetBytes(Command));
            RespWriter.WriteBulkString(batch, key);
            if (Command == "SET")
            {
                RespWriter.WriteBulkString(batch, "0123456789abcdef"u8);
            }

            _store.Set(key, new KeyValueStore.Entry("0123456789abcdef"u8, 0));
        }

        _batch = batch.WrittenSpan.ToArray();

        // Each reply is "+OK\r\n" (SET) or "$16\r\n<16 bytes>\r\n" (GET): the whole batch must come back.
        _replyBytes = Commands * (Command == "SET" ? 5 : 23);
        if (PipelinedBatch().AsTask().GetAwaiter().GetResult() != _replyBytes)
        {
            throw new InvalidOperationException("The server did not answer every command as expected.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _server.GetAwaiter().GetResult();
        _listener.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _store.Dispose();
    }

    // Pooled, so that the benchmark's own await does not show up as an allocation of the loop under test.
    [Benchmark(OperationsPerInvoke = Commands)]
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<long> PipelinedBatch()
    {
        var output = _client.Transport.Output;
        var input = _client.Transport.Input;
        await output.WriteAsync(_batch);

        long received = 0;
        while (received < _replyBytes)
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
