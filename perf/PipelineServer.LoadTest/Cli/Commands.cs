using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using PipelineServer.LoadTest.Engine;
using PipelineServer.LoadTest.Reporting;
using PipelineServer.LoadTest.Scenarios;
using PipelineServer.LoadTest.Servers;

namespace PipelineServer.LoadTest.Cli;

/// <summary>The command line: one subcommand per scenario, the same options on each.</summary>
internal static class Commands
{
    private static readonly LoadOptions s_defaults = new() { Scenario = string.Empty };

    public static RootCommand Build()
    {
        var root = new RootCommand(
            "Load-tests a protocol server: throughput and latency percentiles, every response verified. Without --target, "
            + "an embedded server is started on loopback.");
        foreach (var scenario in ScenarioCatalog.All)
        {
            root.Subcommands.Add(BuildScenarioCommand(scenario));
        }

        root.Subcommands.Add(Reliability.ReliabilityCommands.Build());
        root.Subcommands.Add(Scenarios.Resp.RespFloor.BuildCommand());

        return root;
    }

    private static Command BuildScenarioCommand(ILoadScenario scenario)
    {
        var target = new Option<Uri?>("--target") { Description = "An external server to load, tcp://host:port. Without it, an embedded server is started.", CustomParser = ParseTarget };
        var server = new Option<string>("--server") { Description = $"The embedded server: {string.Join(", ", scenario.ServerKinds)}.", DefaultValueFactory = _ => scenario.ServerKinds[0] };
        server.AcceptOnlyFromAmong([.. scenario.ServerKinds]);
        var compare = new Option<string?>("--compare") { Description = "Two embedded servers to compare, alternately (A B A B ...), e.g. framework,baseline." };
        var rounds = new Option<int>("--rounds") { Description = "Rounds per server with --compare (at least 3).", DefaultValueFactory = _ => s_defaults.Rounds };
        var connections = new Option<int>("--connections", "-c") { Description = "Connections.", DefaultValueFactory = _ => s_defaults.Connections };
        var pipeline = new Option<int>("--pipeline", "-p") { Description = "Requests outstanding per connection.", DefaultValueFactory = _ => s_defaults.Pipeline };
        var batch = new Option<bool>("--batch") { Description = "Closed loop in batches: send a whole pipeline, wait for all its responses, repeat (as redis-benchmark -P does)." };
        var inline = new Option<bool>("--inline") { Description = "Run the client's continuations inline on socket threads (SocketConnectionOptions.UnsafePreferInlineScheduling); with DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1, no thread-pool hop per response." };
        var size = new Option<SizeRange>("--size", "-s") { Description = "Payload bytes, or a min-max range (64, 16-4k).", DefaultValueFactory = _ => s_defaults.Size, CustomParser = ParseSize };
        var duration = new Option<TimeSpan>("--duration", "-d") { Description = "How long to measure (7s, 1m, 500ms).", DefaultValueFactory = _ => s_defaults.Duration, CustomParser = ParseDuration };
        var warmup = new Option<TimeSpan>("--warmup", "-w") { Description = "How long to run before measuring (the JIT needs about 3 s to settle).", DefaultValueFactory = _ => s_defaults.Warmup, CustomParser = ParseDuration };
        var rate = new Option<double?>("--rate", "-r") { Description = "Open loop: requests per second in total, latency measured from each request's intended send time." };
        var json = new Option<string?>("--json") { Description = "Write the summary as JSON to this file." };
        var hlog = new Option<string?>("--hlog") { Description = "Write an HdrHistogram interval log (nanoseconds) to this file." };
        var plot = new Option<string?>("--plot") { Description = "Write a latency percentile chart (PNG) to this file." };

        var command = new Command(scenario.Name, scenario.Description) { target, server, compare, rounds, connections, pipeline, batch, inline, size, duration, warmup, rate, json, hlog, plot };
        foreach (var extra in scenario.ExtraOptions)
        {
            command.Options.Add(extra);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            var extras = new Dictionary<string, string>();
            foreach (var extra in scenario.ExtraOptions)
            {
                if (parse.GetValue(extra) is { } value)
                {
                    extras[extra.Name.TrimStart('-')] = value;
                }
            }

            var options = new LoadOptions
            {
                Scenario = scenario.Name,
                Target = parse.GetValue(target),
                Server = parse.GetValue(server)!,
                Compare = parse.GetValue(compare)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [],
                Rounds = parse.GetValue(rounds),
                Connections = parse.GetValue(connections),
                Pipeline = parse.GetValue(pipeline),
                Batch = parse.GetValue(batch),
                InlineScheduling = parse.GetValue(inline),
                Size = parse.GetValue(size),
                Duration = parse.GetValue(duration),
                Warmup = parse.GetValue(warmup),
                Rate = parse.GetValue(rate),
                JsonPath = parse.GetValue(json),
                HlogPath = parse.GetValue(hlog),
                PlotPath = parse.GetValue(plot),
                Extra = extras,
            };
            return await RunAsync(scenario, options, cancellationToken);
        });
        return command;
    }

    public static async Task<int> RunAsync(ILoadScenario scenario, LoadOptions options, CancellationToken cancellationToken)
    {
        if (Validate(scenario, options) is { } problem)
        {
            await Console.Error.WriteLineAsync("error: " + problem);
            return ExitCodes.CannotRun;
        }

        try
        {
            return await RunValidatedAsync(scenario, options, cancellationToken);
        }
        catch (LoadTestException ex)
        {
            await Console.Error.WriteLineAsync("error: " + ex.Message);
            return ExitCodes.CannotRun;
        }
    }

    private static async Task<int> RunValidatedAsync(ILoadScenario scenario, LoadOptions options, CancellationToken cancellationToken)
    {
        var runs = new List<RunReport>();
        var ratios = new List<double>();
        if (options.Target is { } target)
        {
            var endPoint = ToEndPoint(target);
            runs.Add(new RunReport("external", target.ToString(), await RunOnceAsync(scenario, endPoint, options, "external", null, cancellationToken)));
        }
        else
        {
            var kinds = options.Compare.Count > 0 ? options.Compare : [options.Server];
            var servers = new List<EmbeddedServer>();
            try
            {
                foreach (var kind in kinds)
                {
                    servers.Add(await EmbeddedServer.StartAsync(options, kind, cancellationToken));
                }

                var rounds = options.Compare.Count > 0 ? options.Rounds : 1;
                for (var round = 1; round <= rounds; round++)
                {
                    var perServer = new List<double>();
                    foreach (var server in servers)
                    {
                        var label = options.Compare.Count > 0 ? $"{server.Kind} round {round}" : server.Kind;
                        var result = await RunOnceAsync(scenario, server.EndPoint, options, label, server.GetUsageAsync, cancellationToken);
                        runs.Add(new RunReport(server.Kind, "embedded " + server.EndPoint, result, options.Compare.Count > 0 ? round : 0));
                        perServer.Add(result.RequestsPerSecond);
                    }

                    if (perServer.Count == 2)
                    {
                        ratios.Add(perServer[0] / Math.Max(1e-9, perServer[1]));
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round}: {kinds[0]} / {kinds[1]} throughput ratio {ratios[^1]:0.000}"));
                    }
                }
            }
            finally
            {
                foreach (var server in servers)
                {
                    await server.DisposeAsync();
                }
            }
        }

        var report = new Report(options, runs, ratios);
        SummaryTable.Write(report);
        if (options.JsonPath is { } jsonPath)
        {
            await JsonSummary.WriteAsync(jsonPath, report);
        }

        if (options.HlogPath is { } hlogPath)
        {
            HistogramLog.Write(hlogPath, report);
        }

        if (options.PlotPath is { } plotPath)
        {
            LatencyPlot.Write(plotPath, report);
        }

        if (report.AnyMismatch)
        {
            await Console.Error.WriteLineAsync("error: some responses did not match their requests.");
            return ExitCodes.Mismatch;
        }

        if (runs.Any(static r => r.Result.Requests == 0))
        {
            await Console.Error.WriteLineAsync("error: a run completed no requests.");
            return ExitCodes.NoRequests;
        }

        return ExitCodes.Success;
    }

    private static async Task<LoadResult> RunOnceAsync(ILoadScenario scenario, EndPoint endPoint, LoadOptions options, string label, Func<Task<ServerUsage>>? sampleServer, CancellationToken cancellationToken)
    {
        var progress = new ConsoleProgress(label);
        try
        {
            return await scenario.RunAsync(endPoint, options, progress, sampleServer, cancellationToken);
        }
        finally
        {
            progress.Finish();
        }
    }

    private static string? Validate(ILoadScenario scenario, LoadOptions options)
    {
        if (options.Connections < 1 || options.Pipeline < 1)
        {
            return "--connections and --pipeline must be at least 1.";
        }

        if (options.Batch && options.Rate is not null)
        {
            return "--batch is a closed-loop mode; it cannot be combined with --rate.";
        }

        if (options.Duration <= TimeSpan.Zero || options.Warmup < TimeSpan.Zero)
        {
            return "--duration must be positive and --warmup not negative.";
        }

        if (options.Rate is <= 0)
        {
            return "--rate must be positive.";
        }

        if (options.Compare.Count > 0)
        {
            if (options.Target is not null)
            {
                return "--compare runs embedded servers; it cannot be combined with --target.";
            }

            if (options.Compare.Count != 2 || options.Compare.Any(k => !scenario.ServerKinds.Contains(k)))
            {
                return $"--compare takes two of: {string.Join(", ", scenario.ServerKinds)}.";
            }

            if (options.Rounds < 3)
            {
                return "--compare needs at least 3 rounds per server.";
            }
        }

        return null;
    }

    private static EndPoint ToEndPoint(Uri target) =>
        IPAddress.TryParse(target.Host.Trim('[', ']'), out var address) ? new IPEndPoint(address, target.Port) : new DnsEndPoint(target.Host, target.Port);

    private static Uri? ParseTarget(ArgumentResult result)
    {
        var text = result.Tokens.Single().Value;
        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme == "tcp" && uri.Port > 0)
        {
            return uri;
        }

        result.AddError($"'{text}' is not a target: use tcp://host:port.");
        return null;
    }

    internal static SizeRange ParseSize(ArgumentResult result)
    {
        try
        {
            return SizeRange.Parse(result.Tokens.Single().Value);
        }
        catch (Exception ex) when (ex is FormatException or OverflowException)
        {
            result.AddError(ex.Message);
            return default;
        }
    }

    internal static TimeSpan ParseDuration(ArgumentResult result)
    {
        var text = result.Tokens.Single().Value.Trim();
        double Number(string s) => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
        try
        {
            return text.EndsWith("ms", StringComparison.Ordinal) ? TimeSpan.FromMilliseconds(Number(text[..^2]))
                : text.EndsWith('s') ? TimeSpan.FromSeconds(Number(text[..^1]))
                : text.EndsWith('m') ? TimeSpan.FromMinutes(Number(text[..^1]))
                : TimeSpan.FromSeconds(Number(text));
        }
        catch (FormatException)
        {
            result.AddError($"'{text}' is not a duration: use 10s, 2m or 500ms.");
            return TimeSpan.Zero;
        }
    }
}
