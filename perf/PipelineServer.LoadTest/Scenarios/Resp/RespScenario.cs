using System.Buffers;
using System.CommandLine;
using System.Globalization;
using System.Text;
using KeyValueServer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PipelineServer.Hosting;
using PipelineServer.LoadTest.Cli;
using PipelineServer.Protocols;
using PipelineServer.Resp;

namespace PipelineServer.LoadTest.Scenarios.Resp;

/// <summary>
/// Redis's protocol: a GET/SET mix over a key space, against the KeyValueServer sample (embedded) or any Redis-compatible
/// server (<c>--target tcp://host:6379</c>, redis-server included). <c>--size</c> is the value size. Every reply is
/// verified: a SET must answer <c>+OK</c>; a GET either null (a key not written yet) or exactly the value the harness
/// writes for that key (each key always gets the same value, so concurrent connections never disagree).
/// </summary>
internal sealed class RespScenario : LoadScenario<RespScenario.Request, RespValue>
{
    private static readonly Option<string> s_keys = new("--keys") { Description = "Size of the key space (default 10000)." };
    private static readonly Option<string> s_setPercent = new("--set-percent") { Description = "Share of SETs in the mix, 0-100 (default 50)." };

    public override string Name => "resp";

    public override string Description => "Redis protocol (RESP2): GET/SET mix over a key space, replies verified; the KeyValueServer sample or any Redis-compatible --target.";

    /// <summary>framework: the KeyValueServer sample on PipelineServer.</summary>
    public override IReadOnlyList<string> ServerKinds => ["framework"];

    public override IReadOnlyList<Option<string>> ExtraOptions => [s_keys, s_setPercent];

    public override IMessageWriter<Request> Writer { get; } = new RequestWriter();

    public override IMessageReader<RespValue> CreateReader(LoadOptions options) => new RespValueReader();

    public override IRequestSource<Request, RespValue> CreateSource(LoadOptions options)
    {
        var keys = options.Extra.TryGetValue("keys", out var k) ? int.Parse(k, CultureInfo.InvariantCulture) : 10_000;
        var setPercent = options.Extra.TryGetValue("set-percent", out var s) ? int.Parse(s, CultureInfo.InvariantCulture) : 50;
        if (keys < 1 || setPercent is < 0 or > 100)
        {
            throw new ArgumentException("--keys must be at least 1 and --set-percent within 0-100.");
        }

        return new Workload(keys, setPercent, options.Size.Max);
    }

    public override async Task<RunningServer> StartServerAsync(string kind, LoadOptions options, CancellationToken cancellationToken)
    {
        if (kind != "framework")
        {
            throw new ArgumentException($"The resp scenario has no '{kind}' server; start redis-server yourself and use --target.", nameof(kind));
        }

        var host = KeyValueHost.Create(
            ["--Url", "tcp://127.0.0.1:0"],
            static builder => builder.Logging.SetMinimumLevel(LogLevel.Warning));
        await host.StartAsync(cancellationToken);
        var endPoint = host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!;
        return new RunningServer(endPoint, async () =>
        {
            await host.StopAsync();
            host.Dispose();
        });
    }

    /// <summary>A pre-encoded command and what its reply must be.</summary>
    internal readonly record struct Request(ReadOnlyMemory<byte> Encoded, ReadOnlyMemory<byte> Value, bool IsSet);

    private sealed class RequestWriter : IMessageWriter<Request>
    {
        public void WriteMessage(Request message, IBufferWriter<byte> output) => output.Write(message.Encoded.Span);
    }

    // Every command is encoded once, up front: the load loop only picks one.
    private sealed class Workload : IRequestSource<Request, RespValue>
    {
        private readonly Request[] _gets;
        private readonly Request[] _sets;
        private readonly int _setPercent;

        public Workload(int keys, int setPercent, int valueSize)
        {
            _setPercent = setPercent;
            _gets = new Request[keys];
            _sets = new Request[keys];
            for (var i = 0; i < keys; i++)
            {
                var key = Encoding.ASCII.GetBytes($"key:{i:D8}");
                var value = new byte[valueSize];
                var stamp = Encoding.ASCII.GetBytes($"v{i}:");
                for (var j = 0; j < value.Length; j++)
                {
                    value[j] = stamp[j % stamp.Length];
                }

                _gets[i] = new Request(Encode("GET", key), value, IsSet: false);
                _sets[i] = new Request(Encode("SET", key, value), value, IsSet: true);
            }
        }

        public Request Next(int connection, long sequence, out int requestBytes)
        {
            // A cheap deterministic mix (SplitMix64) so that each connection walks the key space differently.
            var mixed = unchecked(((ulong)connection * 0x9E3779B97F4A7C15UL) + ((ulong)sequence * 0xBF58476D1CE4E5B9UL));
            mixed ^= mixed >> 31;
            mixed *= 0x94D049BB133111EBUL;
            mixed ^= mixed >> 29;
            var key = (int)(mixed % (ulong)_gets.Length);
            var request = (int)((mixed >> 40) % 100) < _setPercent ? _sets[key] : _gets[key];
            requestBytes = request.Encoded.Length;
            return request;
        }

        public bool Verify(in Request request, in RespValue response, out int responseBytes)
        {
            responseBytes = (int)response.Raw.Length;
            if (request.IsSet)
            {
                return response.Type == RespType.SimpleString && response.Raw.Length == 5 && response.Raw.FirstSpan[1] == (byte)'O';
            }

            if (response.Type != RespType.BulkString)
            {
                return false;
            }

            if (response.IsNull)
            {
                return true;
            }

            var payload = response.Payload;
            return payload.Length == request.Value.Length && (payload.IsSingleSegment ? payload.FirstSpan.SequenceEqual(request.Value.Span) : payload.ToArray().AsSpan().SequenceEqual(request.Value.Span));
        }

        private static byte[] Encode(string command, params byte[][] arguments)
        {
            var output = new ArrayBufferWriter<byte>();
            RespWriter.WriteAggregateHeader(output, RespType.Array, arguments.Length + 1, 2);
            RespWriter.WriteBulkString(output, Encoding.ASCII.GetBytes(command));
            foreach (var argument in arguments)
            {
                RespWriter.WriteBulkString(output, argument);
            }

            return output.WrittenSpan.ToArray();
        }
    }
}
