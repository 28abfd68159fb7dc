using PipelineServer.LoadTest.Cli;
using PipelineServer.LoadTest.Scenarios;
using PipelineServer.LoadTest.Servers;

// dotnet run -c Release --project perf/PipelineServer.LoadTest -- echo [options]     (--help for the options)
if (args.Length > 1 && args[0] == ServeCommand.Name)
{
    // The embedded server, in its own process: serve <scenario> --server <kind> --size <size> [--<extra> <value>]...
    var scenario = ScenarioCatalog.Find(args[1]) ?? throw new ArgumentException($"Unknown scenario '{args[1]}'.");
    var server = scenario.ServerKinds[0];
    var size = new SizeRange(64, 64);
    var extras = new Dictionary<string, string>();
    for (var i = 2; i + 1 < args.Length; i += 2)
    {
        switch (args[i])
        {
            case "--server":
                server = args[i + 1];
                break;
            case "--size":
                size = SizeRange.Parse(args[i + 1]);
                break;
            default:
                extras[args[i].TrimStart('-')] = args[i + 1];
                break;
        }
    }

    return await ServeCommand.RunAsync(scenario, new LoadOptions { Scenario = scenario.Name, Server = server, Size = size, Extra = extras });
}

if (Console.IsOutputRedirected)
{
    // Logs and CI captures have no width to fit: keep the summary tables' rows whole.
    Spectre.Console.AnsiConsole.Profile.Width = 160;
}

return await Commands.Build().Parse(args).InvokeAsync();
