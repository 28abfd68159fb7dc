using System.Globalization;
using System.Text;
using HdrHistogram;

namespace PipelineServer.LoadTest.Reporting;

/// <summary>
/// Writes the runs' one-second interval histograms as an HdrHistogram interval log (values in nanoseconds), which the
/// standard HdrHistogram tools can merge across machines and plot. Each run is tagged with its server and round.
/// </summary>
internal static class HistogramLog
{
    public static void Write(string path, Report report)
    {
        var histograms = new List<HistogramBase>();
        foreach (var run in report.Runs)
        {
            foreach (var interval in run.Result.Intervals)
            {
                interval.Tag = run.Round == 0 ? run.Server : string.Create(CultureInfo.InvariantCulture, $"{run.Server}-round{run.Round}");
                histograms.Add(interval);
            }
        }

        File.WriteAllText(path, Format(report.Runs.Min(static r => r.Result.StartTime), histograms), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
    }

    /// <summary>
    /// The log's text. HdrHistogram.NET's writer emits UTF-16 and formats numbers in the current culture; the format's
    /// other readers (Java's HistogramLogProcessor, HdrHistogram-go, hdr_histogram in C) expect ASCII and dots, so the
    /// text is produced in the invariant culture and written as UTF-8 (which for this content is ASCII).
    /// </summary>
    public static string Format(DateTime startTime, IReadOnlyList<HistogramBase> histograms)
    {
        var culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        try
        {
            using var buffer = new MemoryStream();
            using (var writer = new HistogramLogWriter(buffer))
            {
                writer.Write(startTime, [.. histograms]);
            }

            return Encoding.Unicode.GetString(buffer.GetBuffer(), 0, (int)buffer.Length).TrimStart('\uFEFF');
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }
}
