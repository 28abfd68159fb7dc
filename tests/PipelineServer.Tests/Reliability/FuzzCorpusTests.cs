using PipelineServer.Fuzz;

namespace PipelineServer.Tests.Reliability;

// Replays the fuzzers' seed corpus and every input a fuzzer ever found (tests/PipelineServer.Fuzz/corpus/<target>/ and
// regressions/<target>/, copied to the test output) through the same target functions afl-fuzz runs, so a fixed
// finding stays fixed without a fuzzer on the machine.
public class FuzzCorpusTests
{
    private static readonly string s_root = Path.Combine(AppContext.BaseDirectory, "fuzz");

    public static TheoryData<string, string> Inputs()
    {
        var inputs = new TheoryData<string, string>();
        foreach (var kind in new[] { "corpus", "regressions" })
        {
            foreach (var target in FuzzTargets.All.Keys)
            {
                var directory = Path.Combine(s_root, kind, target);
                if (!Directory.Exists(directory))
                {
                    continue;
                }

                foreach (var file in Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal))
                {
                    inputs.Add(target, Path.GetRelativePath(s_root, file));
                }
            }
        }

        return inputs;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void ReplaysWithoutAnUnexpectedException(string target, string file)
    {
        var input = File.ReadAllBytes(Path.Combine(s_root, file));

        // Protocol errors are caught inside the target; anything that escapes is the finding.
        FuzzTargets.All[target](input);
    }

    [Fact]
    public void TheExecutableKnowsEveryTarget() => Assert.Equal(FuzzTargetNames.All.Order(), FuzzTargets.All.Keys.Order());

    [Fact]
    public void EveryTargetHasASeedCorpus()
    {
        foreach (var target in FuzzTargets.All.Keys)
        {
            var directory = Path.Combine(s_root, "corpus", target);
            Assert.True(Directory.Exists(directory) && Directory.EnumerateFiles(directory).Any(), $"No seed corpus for '{target}'.");
        }
    }
}
