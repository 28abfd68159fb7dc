using System.Text.Json;
using System.Text.Json.Serialization;

namespace PipelineServer.LoadTest.Reliability;

/// <summary>The reliability runs' JSON: camelCase, indented, absent fields left out; each document says its <c>kind</c>.</summary>
internal static class ReliabilityJson
{
    private static readonly JsonSerializerOptions s_options = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static async Task WriteAsync(string path, object result, Type type)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory)
        {
            Directory.CreateDirectory(directory);
        }

        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(result, type, s_options));
    }

    /// <summary>Reads every result in <paramref name="paths"/>, by kind; files of other kinds are skipped.</summary>
    public static ReliabilityResults Read(IEnumerable<string> paths)
    {
        var results = new ReliabilityResults();
        foreach (var path in paths.Order(StringComparer.Ordinal))
        {
            var text = File.ReadAllText(path);
            using var document = JsonDocument.Parse(text);
            var kind = document.RootElement.TryGetProperty("kind", out var k) ? k.GetString() : null;
            switch (kind)
            {
                case "idle":
                    results.Idle.Add(JsonSerializer.Deserialize<IdleResult>(text, s_options)!);
                    break;
                case "slow-reader":
                    results.SlowReader.Add(JsonSerializer.Deserialize<SlowReaderResult>(text, s_options)!);
                    break;
                case "churn":
                    results.Churn.Add(JsonSerializer.Deserialize<ChurnResult>(text, s_options)!);
                    break;
            }
        }

        return results;
    }
}

internal sealed class ReliabilityResults
{
    public List<IdleResult> Idle { get; } = [];

    public List<SlowReaderResult> SlowReader { get; } = [];

    public List<ChurnResult> Churn { get; } = [];
}
