using System.Globalization;
using ScottPlot;

namespace PipelineServer.LoadTest.Reporting;

/// <summary>The latency percentile distribution of each server as a PNG chart (log-scale percentile axis, to 99.99 %).</summary>
internal static class LatencyPlot
{
    private static readonly double[] s_percentiles = BuildPercentiles();

    public static void Write(string path, Report report)
    {
        var plot = new Plot();
        foreach (var group in report.Runs.GroupBy(static r => r.Server))
        {
            var merged = new HdrHistogram.LongHistogram(group.First().Result.Latency.HighestTrackableValue, 3);
            foreach (var run in group)
            {
                merged.Add(run.Result.Latency);
            }

            if (merged.TotalCount == 0)
            {
                continue;
            }

            var xs = s_percentiles.Select(static p => Math.Log10(100 / (100 - p))).ToArray();
            var ys = s_percentiles.Select(p => merged.GetValueAtPercentile(p) / 1000.0).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.MarkerSize = 0;
            line.LineWidth = 2;
            line.LegendText = group.Key;
        }

        string[] labels = ["50%", "90%", "99%", "99.9%", "99.99%"];
        double[] ticks = [Math.Log10(2), 1, 2, 3, 4];
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, labels);
        plot.Axes.Bottom.Label.Text = "percentile";
        plot.Axes.Left.Label.Text = "latency (µs)";
        var options = report.Options;
        plot.Title(string.Create(
            CultureInfo.InvariantCulture,
            $"{options.Scenario}: {options.Connections} conn x {options.Pipeline} pipeline, {options.Size} B{(options.Rate is { } rate ? $", {rate:N0} req/s" : string.Empty)}"));
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 900, 560);
    }

    private static double[] BuildPercentiles()
    {
        var values = new List<double>();
        for (var p = 0.0; p < 99.99; p += (100 - p) / 20)
        {
            values.Add(p);
        }

        values.Add(99.99);
        return [.. values];
    }
}
