using System.Reflection;

namespace PipelineServer.Tests;

/// <summary>
/// The dependency rule (docs/architecture.md): codecs, the protocol reader/writer, the message loop and the client must
/// not require the ASP.NET Core shared framework, so any .NET app can use them.
/// </summary>
public class DependencyRuleTests
{
    public static TheoryData<string> FrameworkFreeLibraries => new()
    {
        "PipelineServer.Protocols",
        "PipelineServer.Connections",
        "PipelineServer.Client",
        "PipelineServer.Testing",
        "PipelineServer.Resp",
    };

    [Theory]
    [MemberData(nameof(FrameworkFreeLibraries))]
    public void ReferencesNothingFromTheAspNetCoreSharedFrameworkButConnectionsAbstractions(string library)
    {
        var assembly = Assembly.Load(library);

        var offending = assembly.GetReferencedAssemblies()
            .Select(static reference => reference.Name!)
            .Where(static name => name.StartsWith("Microsoft.AspNetCore.", StringComparison.Ordinal)
                && name != "Microsoft.AspNetCore.Connections.Abstractions")
            .ToList();

        Assert.Empty(offending);
        Assert.DoesNotContain(assembly.GetReferencedAssemblies(), static reference => reference.Name == "PipelineServer");
    }
}
