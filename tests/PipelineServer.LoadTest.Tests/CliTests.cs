using PipelineServer.LoadTest.Cli;

namespace PipelineServer.LoadTest.Tests;

public class SizeRangeTests
{
    [Theory]
    [InlineData("64", 64, 64)]
    [InlineData("0", 0, 0)]
    [InlineData("4k", 4096, 4096)]
    [InlineData("4KiB", 4096, 4096)]
    [InlineData("1m", 1024 * 1024, 1024 * 1024)]
    [InlineData("16-4k", 16, 4096)]
    [InlineData("100-100", 100, 100)]
    public void Parses_sizes_and_ranges(string text, int min, int max)
    {
        var range = SizeRange.Parse(text);

        Assert.Equal(new SizeRange(min, max), range);
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("-5")]
    [InlineData("4x")]
    [InlineData("9999999m")]
    [InlineData("4k-16")]
    public void Rejects_what_is_not_a_size(string text)
    {
        Assert.ThrowsAny<Exception>(() => SizeRange.Parse(text));
    }

    [Fact]
    public void Prints_as_it_parses()
    {
        Assert.Equal("64", new SizeRange(64, 64).ToString());
        Assert.Equal("16-4096", SizeRange.Parse("16-4k").ToString());
    }
}
