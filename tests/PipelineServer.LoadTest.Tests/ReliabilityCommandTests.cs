using System.Text.Json;
using PipelineServer.LoadTest.Cli;
using PipelineServer.LoadTest.Reliability;

namespace PipelineServer.LoadTest.Tests;

/// <summary>
/// The reliability commands end to end: a real embedded server process on 127.0.0.1 port 0, real sockets, small and
/// short loads. Each run ends on its own (a bounded duration or connection count), so no test waits on a clock.
/// </summary>
public sealed class ReliabilityCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("reliability-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("framework")]
    [InlineData("baseline")]
    public async Task Idle_verifies_every_connections_echo_and_reports_memory_per_connection(string server)
    {
        var json = Path.Combine(_directory, "idle.json");

        var exit = await InvokeAsync("reliability", "idle", "--server", server, "-c", "50", "--settle", "50ms", "--json", json);

        Assert.Equal(ExitCodes.Success, exit);
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var root = document.RootElement;
        Assert.Equal("idle", root.GetProperty("kind").GetString());
        Assert.Equal(server, root.GetProperty("server").GetString());
        Assert.Equal(50, root.GetProperty("connected").GetInt32());
        Assert.Equal(50, root.GetProperty("verified").GetInt64());
        Assert.Equal(0, root.GetProperty("errors").GetInt64());
        Assert.Equal(0, root.GetProperty("mismatches").GetInt64());
        Assert.True(double.IsFinite(root.GetProperty("rssPerConnectionKiB").GetDouble()));
        Assert.True(root.GetProperty("acceptSeconds").GetDouble() > 0);
        Assert.True(root.GetProperty("empty").GetProperty("rssBytes").GetInt64() > 0);
        Assert.True(root.GetProperty("empty").GetProperty("managedHeapBytes").GetInt64() > 0);
        Assert.Equal(root.GetProperty("empty").GetProperty("fds").GetInt32() + 50, root.GetProperty("idle").GetProperty("fds").GetInt32());
    }

    [Fact]
    public async Task Churn_closes_many_connections_without_errors_and_the_servers_descriptors_come_back()
    {
        var json = Path.Combine(_directory, "churn.json");

        var exit = await InvokeAsync(
            "reliability", "churn", "-d", "2s", "-w", "300ms", "--workers", "2", "--long-lived", "1", "--settle", "50ms", "--json", json);

        Assert.Equal(ExitCodes.Success, exit);
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var root = document.RootElement;
        Assert.Equal("churn", root.GetProperty("kind").GetString());
        Assert.True(root.GetProperty("churned").GetInt64() > 0);
        Assert.True(root.GetProperty("gracefulCloses").GetInt64() > 0);
        Assert.True(root.GetProperty("resets").GetInt64() > 0);
        Assert.Equal(0, root.GetProperty("errors").GetInt64());
        Assert.Equal(0, root.GetProperty("mismatches").GetInt64());
        Assert.True(root.GetProperty("longLivedTraffic").GetProperty("requests").GetInt64() > 0);
        Assert.True(root.GetProperty("fdsReturned").GetBoolean());
        Assert.True(root.GetProperty("samples").GetArrayLength() >= 2);
        foreach (var figure in new[] { "start", "end" })
        {
            Assert.True(root.GetProperty(figure).GetProperty("threads").GetInt32() > 0, figure);
        }
    }

    [Fact]
    public async Task Slow_readers_are_closed_by_the_write_timeout_while_the_normal_connections_are_served()
    {
        var json = Path.Combine(_directory, "slow.json");

        var exit = await InvokeAsync(
            "reliability", "slow-reader", "--slow", "2", "--normal", "1", "-d", "4s", "--write-timeout", "1s", "--cooldown", "0s", "--settle", "50ms", "--json", json);

        Assert.Equal(ExitCodes.Success, exit);
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var root = document.RootElement;
        Assert.Equal(1, root.GetProperty("writeTimeoutSeconds").GetDouble());
        Assert.True(root.GetProperty("allSlowClosed").GetBoolean());
        foreach (var peer in root.GetProperty("slow").EnumerateArray())
        {
            Assert.True(peer.GetProperty("closedAfterSeconds").GetDouble() >= 1);
        }

        Assert.True(root.GetProperty("normal").GetProperty("requests").GetInt64() > 0);
        Assert.Equal(0, root.GetProperty("normal").GetProperty("errors").GetInt64());
        Assert.True(root.GetProperty("bounded").GetBoolean());
    }

    [Fact]
    public async Task A_slow_reader_the_server_never_closes_is_reported_not_closed_within_the_phase()
    {
        var json = Path.Combine(_directory, "slow-open.json");

        var exit = await InvokeAsync(
            "reliability", "slow-reader", "--server", "baseline", "--slow", "1", "--normal", "1", "-d", "1s", "--cooldown", "0s", "--settle", "50ms", "--json", json);

        // The baseline has no write timeout: nothing was expected to close, so nothing failed.
        Assert.Equal(ExitCodes.Success, exit);
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var root = document.RootElement;
        Assert.False(root.TryGetProperty("writeTimeoutSeconds", out _));
        Assert.False(root.GetProperty("allSlowClosed").GetBoolean());
        Assert.True(root.GetProperty("notClosedWithinSeconds").GetDouble() >= 1);
        Assert.Equal("open", root.GetProperty("slow")[0].GetProperty("ending").GetString());
    }

    [Fact]
    public async Task Summary_rewrites_only_the_marked_block_of_a_document()
    {
        var runs = Path.Combine(_directory, "runs");
        Directory.CreateDirectory(runs);
        Assert.Equal(ExitCodes.Success, await InvokeAsync("reliability", "idle", "-c", "20", "--settle", "50ms", "--json", Path.Combine(runs, "idle-framework.json")));
        var document = Path.Combine(_directory, "reliability.md");
        await File.WriteAllTextAsync(document, $"# Before\n\n{ReliabilityFigures.BeginMarker}\nold figures\n{ReliabilityFigures.EndMarker}\n\n# After\n");

        var exit = await InvokeAsync("reliability", "summary", "--dir", runs, "--markdown", document, "--note", "test machine");

        Assert.Equal(ExitCodes.Success, exit);
        var text = await File.ReadAllTextAsync(document);
        Assert.StartsWith("# Before\n\n" + ReliabilityFigures.BeginMarker, text, StringComparison.Ordinal);
        Assert.EndsWith(ReliabilityFigures.EndMarker + "\n\n# After\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("old figures", text, StringComparison.Ordinal);
        Assert.Contains("_test machine_", text, StringComparison.Ordinal);
        Assert.Contains("| framework | 20 |", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Summary_creates_a_figures_file_holding_just_the_markers_and_the_figures()
    {
        var path = Path.Combine(_directory, "figures.md");

        ReliabilityFigures.Rewrite(path, "| a |\n");

        Assert.Equal($"{ReliabilityFigures.BeginMarker}\n| a |\n{ReliabilityFigures.EndMarker}\n", File.ReadAllText(path));
    }

    [Fact]
    public void Summary_refuses_a_document_without_the_markers()
    {
        var path = Path.Combine(_directory, "plain.md");
        File.WriteAllText(path, "# No markers here\n");

        Assert.Throws<InvalidOperationException>(() => ReliabilityFigures.Rewrite(path, "| a |\n"));
        Assert.Equal("# No markers here\n", File.ReadAllText(path));
    }

    [Theory]
    [InlineData("idle", "-c", "0")]
    [InlineData("idle", "--connect-concurrency", "0")]
    [InlineData("slow-reader", "--slow", "0")]
    [InlineData("slow-reader", "-d", "0s")]
    [InlineData("churn", "--workers", "0")]
    [InlineData("churn", "--reset-percent", "101")]
    [InlineData("churn", "-d", "0s")]
    public async Task Impossible_options_exit_with_cannot_run_before_any_server_starts(params string[] args)
    {
        var exit = await InvokeAsync(["reliability", .. args]);

        Assert.Equal(ExitCodes.CannotRun, exit);
    }

    [Theory]
    [InlineData("idle", "--server", "raw")]
    [InlineData("idle", "--server-setting", "IdleTimeout")]
    [InlineData("churn", "--duration", "soon")]
    [InlineData("slow-reader", "--write-timeout", "later")]
    [InlineData("nosuch")]
    public async Task Options_that_do_not_parse_are_rejected(params string[] args)
    {
        var exit = await InvokeAsync(["reliability", .. args]);

        Assert.NotEqual(ExitCodes.Success, exit);
    }

    [Fact]
    public void Options_parse_into_settings_and_write_timeout_off_means_none()
    {
        var parse = Commands.Build().Parse(["reliability", "slow-reader", "--server-setting", "IdleTimeout=00:01:00", "--server-setting", "MaxConnections=20000", "--write-timeout", "off"]);

        Assert.Empty(parse.Errors);
        var command = parse.CommandResult.Command;
        Assert.Equal(TimeSpan.Zero, parse.GetValue(command.Options.OfType<System.CommandLine.Option<TimeSpan>>().Single(o => o.Name == "--write-timeout")));
        Assert.Equal(["IdleTimeout=00:01:00", "MaxConnections=20000"], parse.GetValue(command.Options.OfType<System.CommandLine.Option<string[]>>().Single())!);
    }

    private static Task<int> InvokeAsync(params string[] args) => Commands.Build().Parse(args).InvokeAsync();
}
