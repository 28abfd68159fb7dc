using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
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
/// A paired, interleaved throughput comparison of the client socket transport against Kestrel's
/// SocketConnectionContextFactory: rounds of fixed duration alternate between the two (A B A B ...), so that drift on a
/// shared machine hits both alike, and the median of the per-pair ratios is reported.
/// <c>dotnet run -c Release --project perf/PipelineServer.Benchmarks -- compare-client-transports [rounds] [seconds]</c>
/// </summary>
internal static class ClientTransportComparison
{
    private static readonly IMessageReader<int> s_responses = EchoProtocol.CreateReader().Select(static frame => (int)frame.Length);

    public static async Task<int> RunAsync(string[] args)
    {
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10;
        var seconds = args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 1.0;

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.AddPipelineServer(server => server.Listen("tcp://127.0.0.1:0", listen => listen.UseEcho()));
        using var host = builder.Build();
        await host.StartAsync();
        var endPoint = (IPEndPoint)host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!;

        using var kestrelFactory = new SocketConnectionContextFactory(new SocketConnectionFactoryOptions(), NullLogger.Instance);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        await using var kestrel = ProtocolClient.Start(kestrelFactory.Create(socket), s_responses, EchoProtocol.Writer);
        await using var ours = await ProtocolClient.ConnectAsync(new SocketConnectionFactory(), endPoint, s_responses, EchoProtocol.Writer);

        Console.WriteLine($"Client transport comparison: {rounds} paired rounds of {seconds:0.##} s, echo of 32 B over loopback, ProtocolClient ordered mode.");
        foreach (var concurrency in new[] { 1, 32 })
        {
            var duration = TimeSpan.FromSeconds(seconds);
            await MeasureAsync(kestrel, concurrency, duration);
            await MeasureAsync(ours, concurrency, duration);

            var ratios = new List<double>();
            for (var round = 0; round < rounds; round++)
            {
                // Alternate which goes first, so neither always gets the warmer half of a pair.
                double a, b;
                if (round % 2 == 0)
                {
                    a = await MeasureAsync(kestrel, concurrency, duration);
                    b = await MeasureAsync(ours, concurrency, duration);
                }
                else
                {
                    b = await MeasureAsync(ours, concurrency, duration);
                    a = await MeasureAsync(kestrel, concurrency, duration);
                }

                ratios.Add(b / a);
                Console.WriteLine($"  concurrency {concurrency,2}  round {round + 1,2}: Kestrel {a,9:N0} req/s   PipelineServer {b,9:N0} req/s   ratio {b / a:0.000}");
            }

            ratios.Sort();
            var median = ratios.Count % 2 == 1 ? ratios[ratios.Count / 2] : (ratios[(ratios.Count / 2) - 1] + ratios[ratios.Count / 2]) / 2;
            Console.WriteLine($"  concurrency {concurrency,2}  median ratio (PipelineServer / Kestrel throughput): {median:0.000}");
        }

        await host.StopAsync();
        return 0;
    }

    private static async Task<double> MeasureAsync(ProtocolClient<ReadOnlySequence<byte>, int> client, int concurrency, TimeSpan duration)
    {
        var payload = new ReadOnlySequence<byte>(new byte[32]);
        var inFlight = new ValueTask<int>[concurrency];
        var completed = 0L;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            for (var i = 0; i < concurrency; i++)
            {
                inFlight[i] = client.RequestAsync(payload);
            }

            for (var i = 0; i < concurrency; i++)
            {
                if (await inFlight[i] != 32)
                {
                    throw new InvalidOperationException("An echo came back wrong.");
                }
            }

            completed += concurrency;
        }

        return completed / clock.Elapsed.TotalSeconds;
    }
}
