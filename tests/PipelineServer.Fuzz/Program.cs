using PipelineServer.Fuzz;
using SharpFuzz;

// Usage: dotnet PipelineServer.Fuzz.dll <target> [--libfuzzer]
// Under afl-fuzz (perf/fuzz.sh) the input comes on stdin; run outside a fuzzer, the target runs once on stdin, which
// reproduces a finding: dotnet PipelineServer.Fuzz.dll resp-value < crash-file
// Nothing from the instrumented libraries may run before Fuzzer.*.Run has set up coverage tracing: only the action does.
if (args.Length is < 1 or > 2 || !FuzzTargetNames.All.Contains(args[0]) || (args.Length == 2 && args[1] != "--libfuzzer"))
{
    Console.Error.WriteLine($"usage: PipelineServer.Fuzz <{string.Join('|', FuzzTargetNames.All)}> [--libfuzzer]");
    return 2;
}

var name = args[0];
if (args.Length == 2)
{
    Fuzzer.LibFuzzer.Run(span => FuzzTargets.All[name](span));
}
else
{
    Fuzzer.OutOfProcess.Run(stream =>
    {
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        FuzzTargets.All[name](copy.GetBuffer().AsSpan(0, (int)copy.Length));
    });
}

return 0;
