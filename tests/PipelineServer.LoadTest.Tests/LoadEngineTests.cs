using HdrHistogram;
using System.Net;
using System.Net.Sockets;
using PipelineServer.LoadTest.Cli;
using PipelineServer.LoadTest.Engine;
using PipelineServer.LoadTest.Scenarios;
using PipelineServer.LoadTest.Scenarios.Echo;
using PipelineServer.LoadTest.Tests.Infrastructure;

namespace PipelineServer.LoadTest.Tests;

/// <summary>The load engine over real sockets on 127.0.0.1, against correct and deliberately faulty servers.</summary>
public class LoadEngineTests
{
    private static readonly TimeSpan s_testTimeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("framework")]
    [InlineData("baseline")]
    [InlineData("raw")]
    public async Task A_closed_loop_run_against_each_echo_server_verifies_every_response(string kind)
    {
        var scenario = new EchoScenario();
        var options = Options(connections: 4, pipeline: 8, size: "1-3000");
        var server = await scenario.StartServerAsync(kind, options, CancellationToken.None);
        try
        {
            var progress = new RecordingProgress();
            var result = await RunAsync(scenario, server.EndPoint, options, progress);

            Assert.Null(result.FirstError);
            Assert.Equal(0, result.Errors);
            Assert.Equal(0, result.Mismatches);
            Assert.True(result.Requests > 0, "no requests"); // how many is a benchmark's question, not a test's

            // Every measured request has a latency, and latencies are plausible (positive, under the run's length).
            Assert.InRange(result.Latency.TotalCount, result.Requests - (4 * 8), result.Requests + (4 * 8));
            Assert.InRange(result.Latency.GetMaxValue(), 1, (long)TimeSpan.FromSeconds(30).TotalNanoseconds);
            Assert.True(result.Bytes >= result.Requests * 2 * (1 + 4), "bytes count both directions, headers included");
            Assert.Contains(progress.Snapshots, static s => s.Remaining == TimeSpan.Zero && !s.WarmingUp);
        }
        finally
        {
            await server.StopAsync();
        }
    }

    [Fact]
    public async Task Responses_that_differ_from_their_requests_are_counted_as_mismatches()
    {
        await using var server = await EchoVariantServer.StartAsync(new CorruptingEchoHandler(every: 25));

        var result = await RunAsync(new EchoScenario(), server.EndPoint, Options(connections: 2, pipeline: 4, size: "32"));

        Assert.Equal(0, result.Errors);
        Assert.True(result.Mismatches > 0, "corrupted responses went unnoticed");

        // Corrupted responses are not counted as requests served.
        Assert.True(result.Requests > 0);
    }

    [Fact]
    public async Task Dropped_connections_are_errors_and_the_run_still_ends()
    {
        await using var server = await EchoVariantServer.StartAsync(new DroppingEchoHandler(limit: 50));

        var result = await RunAsync(new EchoScenario(), server.EndPoint, Options(connections: 3, pipeline: 2, size: "16"));

        Assert.Equal(3, result.Errors);
        Assert.Equal(0, result.Mismatches);
        Assert.NotNull(result.FirstError);
    }

    [Fact]
    public async Task The_open_loop_never_sends_ahead_of_the_schedule()
    {
        var scenario = new EchoScenario();
        var options = Options(connections: 3, pipeline: 4, size: "64", rate: 600, warmup: TimeSpan.Zero);
        var server = await scenario.StartServerAsync("framework", options, CancellationToken.None);
        try
        {
            var result = await RunAsync(scenario, server.EndPoint, options);

            // 600 req/s for 1 s: every request is due inside the window, so no more than 600 can be answered in it.
            Assert.Equal(0, result.Errors);
            Assert.Equal(0, result.Mismatches);
            Assert.InRange(result.Requests, 1, 600);
            Assert.Equal(result.Requests, result.Latency.TotalCount);
        }
        finally
        {
            await server.StopAsync();
        }
    }

    [Fact]
    public async Task The_open_loop_counts_latency_from_the_intended_send_time_so_a_slow_server_cannot_hide_its_queue()
    {
        // One connection, one request at a time, 20 ms per response: about 50 responses a second at most.
        await using var server = await EchoVariantServer.StartAsync(new SlowEchoHandler(TimeSpan.FromMilliseconds(20)));
        var scenario = new EchoScenario();

        var closed = await RunAsync(scenario, server.EndPoint, Options(connections: 1, pipeline: 1, size: "16", warmup: TimeSpan.Zero));

        // Asked for 200 a second, the queue grows all through the run: a closed loop would report ~20 ms throughout.
        var open = await RunAsync(scenario, server.EndPoint, Options(connections: 1, pipeline: 1, size: "16", rate: 200, warmup: TimeSpan.Zero));

        var closedMedian = closed.Latency.GetValueAtPercentile(50);
        var openMedian = open.Latency.GetValueAtPercentile(50);
        Assert.InRange(closedMedian, (long)TimeSpan.FromMilliseconds(20).TotalNanoseconds, (long)TimeSpan.FromMilliseconds(200).TotalNanoseconds);
        Assert.True(openMedian > 4 * closedMedian, $"open-loop median {openMedian / 1e6:0.0} ms, closed-loop median {closedMedian / 1e6:0.0} ms");
        Assert.Equal(0, open.Mismatches);
    }

    [Fact]
    public async Task A_target_that_refuses_connections_is_reported_without_a_stack_trace()
    {
        // Bound but not listening: connecting is refused, and the port cannot be taken by anyone else meanwhile.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)socket.LocalEndPoint!).Port;

        var error = await Assert.ThrowsAsync<LoadTestException>(() => RunAsync(new EchoScenario(), new IPEndPoint(IPAddress.Loopback, port), Options(connections: 2, pipeline: 1, size: "16")));

        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
    }

    internal static LoadOptions Options(int connections, int pipeline, string size, double? rate = null, TimeSpan? warmup = null) => new()
    {
        Scenario = "echo",
        Connections = connections,
        Pipeline = pipeline,
        Size = SizeRange.Parse(size),
        Duration = TimeSpan.FromSeconds(1),
        Warmup = warmup ?? TimeSpan.FromMilliseconds(300),
        Rate = rate,
    };

    private static async Task<LoadResult> RunAsync(ILoadScenario scenario, EndPoint target, LoadOptions options, IProgressSink? progress = null)
    {
        using var timeout = new CancellationTokenSource(s_testTimeout);
        return await scenario.RunAsync(target, options, progress ?? new RecordingProgress(), null, timeout.Token);
    }

    private sealed class RecordingProgress : IProgressSink
    {
        public List<ProgressSnapshot> Snapshots { get; } = [];

        public void Report(ProgressSnapshot snapshot) => Snapshots.Add(snapshot);
    }
}
