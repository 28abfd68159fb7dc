using System.Buffers;
using EchoServer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PipelineServer.Hosting;
using PipelineServer.LoadTest.Cli;
using PipelineServer.Protocols;

namespace PipelineServer.LoadTest.Scenarios.Echo;

/// <summary>
/// The echo sample's protocol: a 4-byte big-endian length, then the payload; the server returns the identical frame.
/// </summary>
internal sealed class EchoScenario : LoadScenario<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
{
    public override string Name => "echo";

    public override string Description => "The echo sample's protocol: 4-byte big-endian length, then payload, echoed back.";

    /// <summary>framework: the echo sample on PipelineServer. baseline: a bare Kestrel connection delegate. raw: a bare socket server.</summary>
    public override IReadOnlyList<string> ServerKinds => ["framework", "baseline", "raw"];

    public override IMessageWriter<ReadOnlySequence<byte>> Writer => EchoProtocol.Writer;

    public override IMessageReader<ReadOnlySequence<byte>> CreateReader(LoadOptions options) =>
        EchoProtocol.CreateReader(Math.Max(EchoProtocol.DefaultMaxFrameLength, options.Size.Max + EchoProtocol.HeaderLength));

    public override IRequestSource<ReadOnlySequence<byte>, ReadOnlySequence<byte>> CreateSource(LoadOptions options) => new PayloadPool(options.Size);

    public override async Task<RunningServer> StartServerAsync(string kind, LoadOptions options, CancellationToken cancellationToken)
    {
        switch (kind)
        {
            case "framework":
            {
                var maxFrame = Math.Max(EchoProtocol.DefaultMaxFrameLength, options.Size.Max + EchoProtocol.HeaderLength);
                // Anything else the harness was given (the reliability runs' --server-setting) is the sample's own
                // configuration, as on its command line: --IdleTimeout 00:01:00, --WriteTimeout 00:00:05.
                List<string> arguments = ["--Url", "tcp://127.0.0.1:0", "--MaxFrameLength", maxFrame.ToString(System.Globalization.CultureInfo.InvariantCulture)];
                foreach (var (name, value) in options.Extra)
                {
                    arguments.Add("--" + name);
                    arguments.Add(value);
                }

                var host = EchoServerHost.Create([.. arguments], static builder => builder.Logging.SetMinimumLevel(LogLevel.Warning));
                await host.StartAsync(cancellationToken);
                var endPoint = host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!;
                return new RunningServer(endPoint, async () =>
                {
                    await host.StopAsync();
                    host.Dispose();
                });
            }

            case "baseline":
                return await BaselineEchoServer.StartAsync(cancellationToken);
            case "raw":
                return RawSocketEchoServer.Start();
            default:
                throw new ArgumentException($"The echo scenario has no '{kind}' server; choose one of {string.Join(", ", ServerKinds)}.", nameof(kind));
        }
    }

    /// <summary>
    /// 1024 distinct random payloads, sized within the range; connections cycle through them from different offsets, so
    /// a response answering the wrong request shows up as a mismatch.
    /// </summary>
    private sealed class PayloadPool : IRequestSource<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        private const int Count = 1024;
        private readonly ReadOnlySequence<byte>[] _payloads = new ReadOnlySequence<byte>[Count];

        public PayloadPool(SizeRange size)
        {
            var random = new Random(20261128);
            for (var i = 0; i < Count; i++)
            {
                var payload = new byte[random.Next(size.Min, size.Max + 1)];
                random.NextBytes(payload);
                _payloads[i] = new ReadOnlySequence<byte>(payload);
            }
        }

        public ReadOnlySequence<byte> Next(int connection, long sequence, out int requestBytes)
        {
            var payload = _payloads[(int)((connection * 7919L + sequence) % Count)];
            requestBytes = (int)payload.Length + EchoProtocol.HeaderLength;
            return payload;
        }

        public bool Verify(in ReadOnlySequence<byte> request, in ReadOnlySequence<byte> response, out int responseBytes)
        {
            responseBytes = (int)response.Length + EchoProtocol.HeaderLength;
            return SequenceEquals(response, request.FirstSpan);
        }

        // Compares in place, segment by segment: no copy of the response.
        private static bool SequenceEquals(in ReadOnlySequence<byte> sequence, ReadOnlySpan<byte> expected)
        {
            if (sequence.Length != expected.Length)
            {
                return false;
            }

            if (sequence.IsSingleSegment)
            {
                return sequence.FirstSpan.SequenceEqual(expected);
            }

            foreach (var segment in sequence)
            {
                if (!segment.Span.SequenceEqual(expected[..segment.Length]))
                {
                    return false;
                }

                expected = expected[segment.Length..];
            }

            return true;
        }
    }
}
