using System.Globalization;
using System.Text;
using HdrHistogram;
using PipelineServer.LoadTest.Reporting;

namespace PipelineServer.LoadTest.Tests;

public class HistogramLogTests
{
    [Fact]
    public void The_log_is_ascii_with_invariant_numbers_and_reads_back_with_the_tags_and_counts()
    {
        var start = new DateTime(2026, 11, 28, 12, 0, 0, DateTimeKind.Utc);
        var first = Interval(start, "framework-round1", 1_000, 2_000, 3_000);
        var second = Interval(start.AddSeconds(1), "baseline-round1", 40_000, 50_000);

        var culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
        string text;
        try
        {
            text = HistogramLog.Format(start, [first, second]);
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }

        Assert.StartsWith("#[Histogram log format version", text, StringComparison.Ordinal);
        Assert.DoesNotContain('\uFEFF', text);
        Assert.All(text, c => Assert.True(c < 128, $"non-ASCII character {(int)c}"));
        Assert.Contains("Tag=framework-round1,1795867200.000,1.000,", text, StringComparison.Ordinal);

        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text));
        using var reader = new HistogramLogReader(stream);
        var read = reader.ReadHistograms().ToList();
        Assert.Equal(2, read.Count);
        Assert.Equal("framework-round1", read[0].Tag);
        Assert.Equal(3, read[0].TotalCount);
        Assert.Equal("baseline-round1", read[1].Tag);
        Assert.Equal(2, read[1].TotalCount);
        Assert.Equal(50_000, read[1].GetMaxValue(), 50.0);
    }

    private static LongHistogram Interval(DateTime start, string tag, params long[] values)
    {
        var histogram = new LongHistogram(1_000_000_000, 3)
        {
            Tag = tag,
            StartTimeStamp = new DateTimeOffset(start).ToUnixTimeMilliseconds(),
            EndTimeStamp = new DateTimeOffset(start.AddSeconds(1)).ToUnixTimeMilliseconds(),
        };
        foreach (var value in values)
        {
            histogram.RecordValue(value);
        }

        return histogram;
    }
}
