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

    public override IMessageWriter<Request> Writer => _writer ?? throw new InvalidOperationException("The writer is made with the workload.");

    public override IMessageReader<RespValue> CreateReader(LoadOptions options) => new RespValueReader();

    public override IRequestSource<Request, RespValue> CreateSource(LoadOptions options)
    {
        var keys = options.Extra.TryGetValue("keys", out var k) ? int.Parse(k, CultureInfo.InvariantCulture) : 10_000;
        var setPercent = options.Extra.TryGetValue("set-percent", out var s) ? int.Parse(s, CultureInfo.InvariantCulture) : 50;
        if (keys < 1 || setPercent is < 0 or > 100)
        {
            throw new ArgumentException("--keys must be at least 1 and --set-percent within 0-100.");
        }

        if (keys > 99_999_999)
        {
            throw new ArgumentException("--keys is at most 99999999 (keys have 8 digits).");
        }

        _writer = new RequestWriter(options.Size.Max);
        return new Workload(keys, setPercent, options.Size.Max, _writer);
    }

    private RequestWriter? _writer;

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

    /// <summary>A command: which key, and whether it is a SET. Eight bytes; the bytes on the wire are formatted when written.</summary>
    internal readonly record struct Request(int Key, bool IsSet);

    // Keys are "key:" and 8 digits; a key's value is its 8 digits repeated to the value size. Commands are formatted
    // straight into the connection's buffer and replies checked against the digits: nothing is looked up in memory that
    // grows with the key space, so a large key space does not turn each request into cache misses (pre-encoded
    // commands for 10,000 keys cost the harness 15 % of its time in a profile).
    private sealed class RequestWriter(int valueSize) : IMessageWriter<Request>
    {
        private static ReadOnlySpan<byte> GetPrefix => "*2\r\n$3\r\nGET\r\n$12\r\nkey:"u8;

        private static ReadOnlySpan<byte> SetPrefix => "*3\r\n$3\r\nSET\r\n$12\r\nkey:"u8;

        private readonly byte[] _valueHeader = Encoding.ASCII.GetBytes("$" + valueSize.ToString(CultureInfo.InvariantCulture) + "\r\n");

        public int GetLength => GetPrefix.Length + 8 + 2;

        public int SetLength => SetPrefix.Length + 8 + 2 + _valueHeader.Length + valueSize + 2;

        public void WriteMessage(Request message, IBufferWriter<byte> output)
        {
            var length = message.IsSet ? SetLength : GetLength;
            var span = output.GetSpan(length);
            var prefix = message.IsSet ? SetPrefix : GetPrefix;
            prefix.CopyTo(span);
            var digits = span.Slice(prefix.Length, 8);
            WriteDigits(message.Key, digits);
            var position = prefix.Length + 8;
            span[position++] = (byte)'\r';
            span[position++] = (byte)'\n';
            if (message.IsSet)
            {
                _valueHeader.CopyTo(span[position..]);
                position += _valueHeader.Length;
                for (var i = 0; i < valueSize; i++)
                {
                    span[position + i] = digits[i & 7];
                }

                position += valueSize;
                span[position++] = (byte)'\r';
                span[position++] = (byte)'\n';
            }

            output.Advance(position);
        }
    }

    private static void WriteDigits(int key, Span<byte> digits)
    {
        for (var i = 7; i >= 0; i--)
        {
            digits[i] = (byte)('0' + (key % 10));
            key /= 10;
        }
    }

    private sealed class Workload(int keys, int setPercent, int valueSize, RequestWriter writer) : IRequestSource<Request, RespValue>
    {
        public Request Next(int connection, long sequence, out int requestBytes)
        {
            // A cheap deterministic mix (SplitMix64) so that each connection walks the key space differently; ranges are
            // reduced by multiplication rather than division.
            var mixed = unchecked(((ulong)connection * 0x9E3779B97F4A7C15UL) + ((ulong)sequence * 0xBF58476D1CE4E5B9UL));
            mixed ^= mixed >> 31;
            mixed *= 0x94D049BB133111EBUL;
            mixed ^= mixed >> 29;
            var key = (int)(((mixed >> 32) * (ulong)keys) >> 32);
            var isSet = (int)(((mixed & 0xFFFF) * 100) >> 16) < setPercent;
            requestBytes = isSet ? writer.SetLength : writer.GetLength;
            return new Request(key, isSet);
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
            if (payload.Length != valueSize)
            {
                return false;
            }

            Span<byte> digits = stackalloc byte[8];
            WriteDigits(request.Key, digits);
            var index = 0;
            foreach (var segment in payload)
            {
                foreach (var b in segment.Span)
                {
                    if (b != digits[index++ & 7])
                    {
                        return false;
                    }
                }
            }

            return true;
        }
    }
}
