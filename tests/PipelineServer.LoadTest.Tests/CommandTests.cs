using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PipelineServer.LoadTest.Cli;
using PipelineServer.LoadTest.Tests.Infrastructure;

namespace PipelineServer.LoadTest.Tests;

/// <summary>The command line as users and scripts see it: options, exit status, and the files it writes.</summary>
public sealed class CommandTests : IDisposable
{
    private static readonly string[] s_fixedFields =
    [
        "scenario", "target", "server", "connections", "pipeline", "size", "durationSeconds", "requests",
        "requestsPerSecond", "bytesPerSecond", "errors", "mismatches", "latencyMicros",
    ];

    private readonly string _directory = Directory.CreateTempSubdirectory("loadtest-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_run_against_an_external_target_writes_the_fixed_json_fields_and_succeeds()
    {
        await using var server = await EchoVariantServer.StartAsync(new CorruptingEchoHandler(every: int.MaxValue));
        var json = Path.Combine(_directory, "run.json");

        var exit = await InvokeAsync("echo", "--target", server.Url.ToString(), "-c", "2", "-p", "4", "-s", "16-256", "-d", "3s", "-w", "300ms", "--json", json);

        Assert.Equal(ExitCodes.Success, exit);
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var root = document.RootElement;
        foreach (var field in s_fixedFields)
        {
            Assert.True(root.TryGetProperty(field, out _), $"missing '{field}'");
        }

        Assert.Equal("echo", root.GetProperty("scenario").GetString());
        Assert.Equal("external", root.GetProperty("server").GetString());
        Assert.Equal(2, root.GetProperty("connections").GetInt32());
        Assert.Equal(4, root.GetProperty("pipeline").GetInt32());
        Assert.Equal("16-256", root.GetProperty("size").GetString());
        Assert.True(root.GetProperty("requests").GetInt64() > 0);
        Assert.Equal(0, root.GetProperty("mismatches").GetInt64());
        foreach (var percentile in new[] { "p50", "p90", "p99", "p999", "max" })
        {
            Assert.True(root.GetProperty("latencyMicros").GetProperty(percentile).GetDouble() > 0, percentile);
        }

        // Nothing is known of an external server's allocations.
        Assert.False(root.TryGetProperty("serverAllocatedBytesPerRequest", out _));
        Assert.False(root.TryGetProperty("ratios", out _));
    }

    [Fact]
    public async Task Any_mismatch_makes_the_exit_status_non_zero()
    {
        await using var server = await EchoVariantServer.StartAsync(new CorruptingEchoHandler(every: 50));

        var exit = await InvokeAsync("echo", "--target", server.Url.ToString(), "-c", "2", "-p", "4", "-s", "32", "-d", "1s", "-w", "300ms");

        Assert.Equal(ExitCodes.Mismatch, exit);
    }

    [Fact]
    public async Task A_target_that_cannot_be_reached_exits_with_cannot_run()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)socket.LocalEndPoint!).Port;

        var exit = await InvokeAsync("echo", "--target", $"tcp://127.0.0.1:{port}", "-c", "1", "-d", "500ms", "-w", "0s");

        Assert.Equal(ExitCodes.CannotRun, exit);
    }

    [Theory]
    [InlineData("--compare", "framework")]
    [InlineData("--compare", "framework,nosuch")]
    [InlineData("--compare", "framework,baseline", "--rounds", "2")]
    [InlineData("--compare", "framework,baseline", "--target", "tcp://127.0.0.1:9")]
    [InlineData("-c", "0")]
    [InlineData("-p", "0")]
    [InlineData("--rate", "0")]
    [InlineData("--batch", "--rate", "1000")]
    [InlineData("-d", "0s")]
    public async Task Contradictory_or_impossible_options_exit_with_cannot_run_before_any_load(params string[] options)
    {
        var exit = await InvokeAsync(["echo", .. options]);

        Assert.Equal(ExitCodes.CannotRun, exit);
    }

    [Theory]
    [InlineData("--size", "lots")]
    [InlineData("--duration", "soon")]
    [InlineData("--target", "http://127.0.0.1:80")]
    [InlineData("--server", "nosuch")]
    public async Task Options_that_do_not_parse_are_rejected(params string[] options)
    {
        var exit = await InvokeAsync(["echo", .. options]);

        Assert.NotEqual(ExitCodes.Success, exit);
    }

    [Fact]
    public async Task Compare_runs_both_embedded_servers_alternately_and_reports_per_round_and_median_ratios()
    {
        var json = Path.Combine(_directory, "compare.json");
        var hlog = Path.Combine(_directory, "compare.hlog");
        var plot = Path.Combine(_directory, "compare.png");

        var exit = await InvokeAsync(
            "echo", "--compare", "framework,baseline", "--rounds", "3", "-c", "4", "-p", "4", "-d", "500ms", "-w", "500ms",
            "--json", json, "--hlog", hlog, "--plot", plot);

        Assert.Equal(ExitCodes.Success, exit);
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var root = document.RootElement;
        foreach (var field in s_fixedFields)
        {
            Assert.True(root.TryGetProperty(field, out _), $"missing '{field}'");
        }

        var ratios = root.GetProperty("ratios");
        Assert.Equal("framework", ratios.GetProperty("numerator").GetString());
        Assert.Equal("baseline", ratios.GetProperty("denominator").GetString());
        var perRound = ratios.GetProperty("perRound").EnumerateArray().Select(static r => r.GetDouble()).ToArray();
        Assert.Equal(3, perRound.Length);
        Assert.All(perRound, static r => Assert.True(r > 0));
        Assert.Equal(perRound.Order().ElementAt(1), ratios.GetProperty("median").GetDouble(), 1e-9);

        // A B A B A B, each measured with its server's own allocations and collections over the same window.
        var runs = root.GetProperty("runs").EnumerateArray().ToArray();
        Assert.Equal(["framework", "baseline", "framework", "baseline", "framework", "baseline"], runs.Select(static r => r.GetProperty("server").GetString()));
        Assert.All(runs, static run =>
        {
            Assert.True(run.GetProperty("serverAllocatedBytesPerRequest").GetDouble() >= 0);
            Assert.True(run.GetProperty("gcCollections").TryGetProperty("gen2", out _));
            Assert.True(run.GetProperty("requests").GetInt64() > 0);
        });

        var log = await File.ReadAllTextAsync(hlog);
        foreach (var tag in new[] { "framework-round1", "baseline-round1", "framework-round3", "baseline-round3" })
        {
            Assert.Contains("Tag=" + tag + ",", log, StringComparison.Ordinal);
        }

        var png = await File.ReadAllBytesAsync(plot);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
    }

    private static Task<int> InvokeAsync(params string[] args) => Commands.Build().Parse(args).InvokeAsync();
}
