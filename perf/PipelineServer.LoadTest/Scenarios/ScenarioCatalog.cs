using PipelineServer.LoadTest.Scenarios.Echo;

namespace PipelineServer.LoadTest.Scenarios;

/// <summary>The scenarios the tool offers, one subcommand each. A protocol pack adds its scenario here.</summary>
internal static class ScenarioCatalog
{
    public static IReadOnlyList<ILoadScenario> All { get; } = [new EchoScenario(), new Resp.RespScenario()];

    public static ILoadScenario? Find(string name) => All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}
