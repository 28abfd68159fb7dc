using HdrHistogram;
using PipelineServer.LoadTest.Engine;

namespace PipelineServer.LoadTest.Tests;

public class LatencyRecorderTests
{
    [Fact]
    public async Task Every_value_recorded_from_many_threads_is_read_exactly_once_across_ticks_and_the_final_drain()
    {
        const int Threads = 4;
        const int PerThread = 200_000;
        var recorder = new LatencyRecorder(TimeSpan.FromMinutes(1).Ticks * 100);
        var total = new LongHistogram(TimeSpan.FromMinutes(1).Ticks * 100, 3);
        using var start = new Barrier(Threads + 1);
        var writers = new Task[Threads];
        for (var t = 0; t < Threads; t++)
        {
            var thread = t;
            writers[t] = Task.Factory.StartNew(
                () =>
                {
                    start.SignalAndWait();
                    for (var i = 0; i < PerThread; i++)
                    {
                        // Values 1..1000 µs, and one known maximum per thread.
                        recorder.RecordValue(i == PerThread / 2 ? 5_000_000 + thread : 1000 * (1 + (i % 1000)), 1);
                    }
                },
                TaskCreationOptions.LongRunning);
        }

        start.SignalAndWait();
        var ticks = 0;
        while (!Task.WhenAll(writers).IsCompleted || ticks < 3)
        {
            var interval = new LongHistogram(TimeSpan.FromMinutes(1).Ticks * 100, 3);
            recorder.Tick(interval);
            total.Add(interval);
            ticks++;
            await Task.Yield();
        }

        await Task.WhenAll(writers);
        total.Add(recorder.Drain());

        Assert.Equal(Threads * (long)PerThread, total.TotalCount);
        Assert.Equal(5_000_000 + Threads - 1, total.GetMaxValue(), 5_000_000 / 1000.0);
    }

    [Fact]
    public void A_run_of_equal_values_counts_each_one()
    {
        var recorder = new LatencyRecorder(1_000_000_000);

        recorder.RecordValue(250_000, 7);
        recorder.RecordValue(100, 1);
        var all = recorder.Drain();

        Assert.Equal(8, all.TotalCount);
        Assert.Equal(7, all.GetCountAtValue(250_000));
    }
}
