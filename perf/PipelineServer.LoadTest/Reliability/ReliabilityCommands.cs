using System.CommandLine;
using System.CommandLine.Parsing;
using PipelineServer.LoadTest.Cli;

namespace PipelineServer.LoadTest.Reliability;

/// <summary>
/// <c>reliability idle|slow-reader|churn|summary</c>: what the server holds under many idle connections, slow peers and
/// connection churn, measured from outside its process. <c>perf/reliability.sh</c> runs them all.
/// </summary>
internal static class ReliabilityCommands
{
    public const string Name = "reliability";

    private static readonly ReliabilityOptions s_common = new();
    private static readonly IdleOptions s_idle = new();
    private static readonly SlowReaderOptions s_slow = new();
    private static readonly ChurnOptions s_churn = new();

    public static Command Build() => new(Name, "Idle connections, slow readers and connection churn against an embedded echo server in its own process: its memory, descriptors and threads, every echo verified.")
    {
        BuildIdle(),
        BuildSlowReader(),
        BuildChurn(),
        BuildSummary(),
    };

    private static Command BuildIdle()
    {
        var common = new CommonOptions();
        var connections = new Option<int>("--connections", "-c") { Description = "Idle connections to open.", DefaultValueFactory = _ => s_idle.Connections };
        var concurrency = new Option<int>("--connect-concurrency") { Description = "Connects in flight at once.", DefaultValueFactory = _ => s_idle.ConnectConcurrency };
        var payload = new Option<int>("--payload") { Description = "Payload bytes of each connection's one echo (distinct per connection).", DefaultValueFactory = _ => s_idle.PayloadSize };
        var goal = new Option<double>("--goal-kib") { Description = "The goal for the framework, KiB of resident memory per idle connection above the empty server (reported, not enforced).", DefaultValueFactory = _ => s_idle.GoalKiB };
        var command = new Command("idle", "Opens many idle connections: time to accept them all, resident memory per idle connection above the empty server, then one verified echo on every connection.") { connections, concurrency, payload, goal };
        common.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new IdleOptions
            {
                Connections = parse.GetValue(connections),
                ConnectConcurrency = parse.GetValue(concurrency),
                PayloadSize = parse.GetValue(payload),
                GoalKiB = parse.GetValue(goal),
            };
            if (options.Connections < 1 || options.ConnectConcurrency < 1 || options.PayloadSize < 0)
            {
                return await FailAsync("--connections and --connect-concurrency must be at least 1, --payload not negative.");
            }

            return await RunAsync(common.Read(parse), async (c, log, ct) =>
            {
                var result = await IdleRun.RunAsync(c, options, log, ct);
                var results = new ReliabilityResults();
                results.Idle.Add(result);
                var problems = new List<string>();
                if (result.Mismatches > 0)
                {
                    problems.Add($"{result.Mismatches:N0} echoes did not match");
                }

                if (result.Errors > 0 || result.Verified != result.Connections)
                {
                    problems.Add($"{result.Verified:N0} of {result.Connections:N0} connections verified, {result.Errors:N0} errors ({result.FirstError})");
                }

                return (result, results, problems, result.Mismatches > 0 ? ExitCodes.Mismatch : ExitCodes.CheckFailed);
            }, cancellationToken);
        });
        return command;
    }

    private static Command BuildSlowReader()
    {
        var common = new CommonOptions();
        var slow = new Option<int>("--slow") { Description = "Slow peers: they send frames back to back and never read.", DefaultValueFactory = _ => s_slow.SlowConnections };
        var normal = new Option<int>("--normal") { Description = "Normal connections echoing (verified) throughout.", DefaultValueFactory = _ => s_slow.NormalConnections };
        var frameSize = new Option<SizeRange>("--frame-size") { Description = "Payload of the slow peers' frames (64k).", DefaultValueFactory = _ => new SizeRange(s_slow.FrameSize, s_slow.FrameSize), CustomParser = Commands.ParseSize };
        var normalSize = new Option<int>("--normal-size") { Description = "Payload bytes of the normal connections' echoes.", DefaultValueFactory = _ => s_slow.NormalPayloadSize };
        var duration = new Option<TimeSpan>("--duration", "-d") { Description = "The slow phase; a slow peer still open at its end is reported as not closed within it.", DefaultValueFactory = _ => s_slow.Duration, CustomParser = Commands.ParseDuration };
        // Zero for none: System.CommandLine cannot bind a null from a custom parser to a nullable value type.
        var writeTimeout = new Option<TimeSpan>("--write-timeout") { Description = "Given to the framework server as --WriteTimeout (5s); off for none. The baseline has none.", DefaultValueFactory = _ => s_slow.WriteTimeout ?? TimeSpan.Zero, CustomParser = ParseOptionalDuration };
        var cooldown = new Option<TimeSpan>("--cooldown") { Description = "Wait after the slow phase before the final RSS, for buffer pools to trim (0s for none).", DefaultValueFactory = _ => s_slow.Cooldown, CustomParser = Commands.ParseDuration };
        var growth = new Option<double>("--max-growth-per-slow-mib") { Description = "The server's resident growth allowed per slow peer, on top of 16 MiB, before it counts as unbounded.", DefaultValueFactory = _ => s_slow.MaxGrowthPerSlowMiB };
        var command = new Command("slow-reader", "Slow peers that never read beside normal connections: server memory over time (peak, final), the normal connections' service, and when the server closes each slow peer.") { slow, normal, frameSize, normalSize, duration, writeTimeout, cooldown, growth };
        common.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new SlowReaderOptions
            {
                SlowConnections = parse.GetValue(slow),
                NormalConnections = parse.GetValue(normal),
                FrameSize = parse.GetValue(frameSize).Max,
                NormalPayloadSize = parse.GetValue(normalSize),
                Duration = parse.GetValue(duration),
                WriteTimeout = parse.GetValue(writeTimeout) is { } timeout && timeout > TimeSpan.Zero ? timeout : null,
                Cooldown = parse.GetValue(cooldown),
                MaxGrowthPerSlowMiB = parse.GetValue(growth),
            };
            if (options.SlowConnections < 1 || options.NormalConnections < 0 || options.FrameSize < 1 || options.Duration <= TimeSpan.Zero || options.Cooldown < TimeSpan.Zero)
            {
                return await FailAsync("--slow and --frame-size must be at least 1, --normal not negative, --duration positive, --cooldown not negative.");
            }

            return await RunAsync(common.Read(parse), async (c, log, ct) =>
            {
                var result = await SlowReaderRun.RunAsync(c, options, log, ct);
                var results = new ReliabilityResults();
                results.SlowReader.Add(result);
                var problems = new List<string>();
                if (result.Normal.Errors + result.Normal.Mismatches > 0 || (options.NormalConnections > 0 && result.Normal.Requests == 0))
                {
                    problems.Add($"the normal connections were not served throughout: {result.Normal.Requests:N0} echoes, {result.Normal.Errors} errors, {result.Normal.Mismatches} mismatches ({result.Normal.FirstError})");
                }

                if (!result.Bounded)
                {
                    problems.Add($"the server grew by {result.PeakGrowthBytes / 1048576.0:0.0} MiB, more than the {result.AllowedGrowthBytes / 1048576.0:0.0} MiB allowed");
                }

                if (result.WriteTimeoutSeconds is { } timeout && !result.AllSlowClosed)
                {
                    problems.Add($"{result.SlowConnections - result.SlowClosed} of {result.SlowConnections} slow peers not closed within {result.DurationSeconds:0} s (write timeout {timeout:0.#} s)");
                }

                return (result, results, problems, result.Normal.Mismatches > 0 ? ExitCodes.Mismatch : ExitCodes.CheckFailed);
            }, cancellationToken);
        });
        return command;
    }

    private static Command BuildChurn()
    {
        var common = new CommonOptions();
        var duration = new Option<TimeSpan>("--duration", "-d") { Description = "How long to churn.", DefaultValueFactory = _ => s_churn.Duration, CustomParser = Commands.ParseDuration };
        var warmup = new Option<TimeSpan>("--warmup", "-w") { Description = "Churn before the start is measured.", DefaultValueFactory = _ => s_churn.Warmup, CustomParser = Commands.ParseDuration };
        var workers = new Option<int>("--workers") { Description = "Workers, each opening, using and closing one connection after another.", DefaultValueFactory = _ => s_churn.Workers };
        var longLived = new Option<int>("--long-lived") { Description = "Connections echoing (verified) throughout.", DefaultValueFactory = _ => s_churn.LongLived };
        var messages = new Option<int>("--messages") { Description = "Verified echoes per churned connection.", DefaultValueFactory = _ => s_churn.MessagesPerConnection };
        var resetPercent = new Option<int>("--reset-percent") { Description = "Share of churned connections closed with a reset instead of gracefully.", DefaultValueFactory = _ => s_churn.ResetPercent };
        var settleTimeout = new Option<TimeSpan>("--settle-timeout") { Description = "How long the server is given, once churn stops, to close what was churned.", DefaultValueFactory = _ => s_churn.SettleTimeout, CustomParser = Commands.ParseDuration };
        var command = new Command("churn", "Connections opened, used (verified echoes) and closed (graceful or reset) continuously beside long-lived ones: server RSS, descriptors and threads every second, start, end and peak.") { duration, warmup, workers, longLived, messages, resetPercent, settleTimeout };
        common.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new ChurnOptions
            {
                Duration = parse.GetValue(duration),
                Warmup = parse.GetValue(warmup),
                Workers = parse.GetValue(workers),
                LongLived = parse.GetValue(longLived),
                MessagesPerConnection = parse.GetValue(messages),
                ResetPercent = parse.GetValue(resetPercent),
                SettleTimeout = parse.GetValue(settleTimeout),
            };
            if (options.Duration <= TimeSpan.Zero || options.Warmup < TimeSpan.Zero || options.Workers < 1 || options.LongLived < 0 || options.MessagesPerConnection < 0
                || options.ResetPercent is < 0 or > 100)
            {
                return await FailAsync("--duration must be positive, --warmup not negative, --workers at least 1, --long-lived and --messages not negative, --reset-percent 0 to 100.");
            }

            return await RunAsync(common.Read(parse), async (c, log, ct) =>
            {
                var result = await ChurnRun.RunAsync(c, options, log, ct);
                var results = new ReliabilityResults();
                results.Churn.Add(result);
                var problems = new List<string>();
                if (result.Errors + result.Mismatches > 0)
                {
                    problems.Add($"{result.Errors:N0} errors, {result.Mismatches:N0} mismatches ({result.FirstError})");
                }

                if (result.Churned == 0)
                {
                    problems.Add("no connection was churned");
                }

                if (!result.FdsReturned)
                {
                    problems.Add($"the server's descriptors did not come back: {result.Start.Fds} at the start, {result.End.Fds} at the end");
                }

                return (result, results, problems, result.Mismatches > 0 ? ExitCodes.Mismatch : ExitCodes.CheckFailed);
            }, cancellationToken);
        });
        return command;
    }

    private static Command BuildSummary()
    {
        var directory = new Option<DirectoryInfo>("--dir") { Description = "Where the runs' JSON files are.", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("artifacts", "reliability")) };
        var markdown = new Option<string?>("--markdown") { Description = "Rewrite the block between <!-- reliability:begin --> and <!-- reliability:end --> in this file (created if missing)." };
        var note = new Option<string?>("--note") { Description = "A line above the figures in the Markdown (machine, commit, date)." };
        var command = new Command("summary", "Prints the figures of every reliability JSON in a directory, and optionally writes them into a Markdown document.") { directory, markdown, note };
        command.SetAction(async (parse, _) =>
        {
            var dir = parse.GetValue(directory)!;
            if (!dir.Exists)
            {
                return await FailAsync($"{dir.FullName} does not exist.");
            }

            var results = ReliabilityJson.Read(dir.EnumerateFiles("*.json").Select(static f => f.FullName));
            ReliabilityFigures.Print(results);
            if (parse.GetValue(markdown) is { } path)
            {
                try
                {
                    ReliabilityFigures.Rewrite(path, ReliabilityFigures.Markdown(results, parse.GetValue(note)));
                }
                catch (InvalidOperationException ex)
                {
                    return await FailAsync(ex.Message);
                }

                Console.WriteLine($"figures written to {path}");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private delegate Task<(object Result, ReliabilityResults Figures, List<string> Problems, int FailureCode)> Run(ReliabilityOptions options, Action<string> log, CancellationToken cancellationToken);

    private static async Task<int> RunAsync(ReliabilityOptions options, Run run, CancellationToken cancellationToken)
    {
        try
        {
            var (result, figures, problems, failureCode) = await run(options, static line => Console.WriteLine("  " + line), cancellationToken);
            ReliabilityFigures.Print(figures);
            if (options.JsonPath is { } path)
            {
                await ReliabilityJson.WriteAsync(path, result, result.GetType());
            }

            foreach (var problem in problems)
            {
                await Console.Error.WriteLineAsync("error: " + problem);
            }

            return problems.Count == 0 ? ExitCodes.Success : failureCode;
        }
        catch (LoadTestException ex)
        {
            return await FailAsync(ex.Message);
        }
    }

    private static async Task<int> FailAsync(string message)
    {
        await Console.Error.WriteLineAsync("error: " + message);
        return ExitCodes.CannotRun;
    }

    private static TimeSpan ParseOptionalDuration(ArgumentResult result)
    {
        var text = result.Tokens.Single().Value.Trim();
        return text is "off" or "none" or "0" ? TimeSpan.Zero : Commands.ParseDuration(result);
    }

    private static Dictionary<string, string>? ParseSettings(IEnumerable<string> settings, out string? problem)
    {
        var parsed = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var setting in settings)
        {
            var equals = setting.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                problem = $"'{setting}' is not a server setting: use Name=Value, e.g. IdleTimeout=00:01:00.";
                return null;
            }

            parsed[setting[..equals].Trim().TrimStart('-')] = setting[(equals + 1)..].Trim();
        }

        problem = null;
        return parsed;
    }

    /// <summary>The options every run takes, created per command (an option belongs to one command).</summary>
    private sealed class CommonOptions
    {
        private readonly Option<string> _server = new("--server") { Description = "The embedded server: framework (the echo sample) or baseline (a bare Kestrel ConnectionHandler).", DefaultValueFactory = _ => s_common.Server };
        private readonly Option<string[]> _settings = new("--server-setting") { Description = "The echo sample's configuration, Name=Value, repeatable (IdleTimeout=00:01:00).", DefaultValueFactory = _ => [] };
        private readonly Option<TimeSpan> _settle = new("--settle") { Description = "Pause between the two forced collections before each measurement.", DefaultValueFactory = _ => s_common.Settle, CustomParser = Commands.ParseDuration };
        private readonly Option<string?> _json = new("--json") { Description = "Write the figures as JSON to this file." };

        public CommonOptions()
        {
            _server.AcceptOnlyFromAmong(ReliabilityServer.Kinds);
            _settings.Validators.Add(static result =>
            {
                if (ParseSettings(result.Tokens.Select(static t => t.Value), out var problem) is null)
                {
                    result.AddError(problem!);
                }
            });
        }

        public void AddTo(Command command)
        {
            command.Options.Add(_server);
            command.Options.Add(_settings);
            command.Options.Add(_settle);
            command.Options.Add(_json);
        }

        public ReliabilityOptions Read(ParseResult parse) => new()
        {
            Server = parse.GetValue(_server)!,
            ServerSettings = ParseSettings(parse.GetValue(_settings) ?? [], out _)!,
            Settle = parse.GetValue(_settle),
            JsonPath = parse.GetValue(_json),
        };
    }
}
