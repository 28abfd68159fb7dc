namespace PipelineServer.Fuzz;

/// <summary>
/// The targets' names, apart from <see cref="FuzzTargets"/>: the fuzzing executable checks its argument before the
/// fuzzer has set up coverage tracing, and touching <see cref="FuzzTargets"/> then would run instrumented library code
/// (its static initializers) with nowhere to record coverage, which crashes the process.
/// </summary>
public static class FuzzTargetNames
{
    public const string LengthField = "length-field";
    public const string Delimiter = "delimiter";
    public const string Fixed = "fixed";
    public const string Varint = "varint";
    public const string RespValue = "resp-value";
    public const string RespCommand = "resp-command";
    public const string Proxy = "proxy";

    public static IReadOnlyList<string> All { get; } = [LengthField, Delimiter, Fixed, Varint, RespValue, RespCommand, Proxy];
}
