using System.Diagnostics;
using System.Runtime.InteropServices;

namespace PipelineServer.LoadTest.Engine;

/// <summary>
/// Open loop: one thread keeps every connection to the schedule. It sleeps until the next request falls due (to within
/// tens of microseconds on Linux, where it sleeps on the monotonic clock with the timer slack turned down), writes every
/// request due by then on each connection with room in its window, and flushes each connection once. Requests are never
/// sent early; any lateness, the pacer's own included, counts in their latency.
/// </summary>
internal static class OpenLoopPacer
{
    // Shorter sleeps cost more in system calls than they gain in precision: due requests are gathered for at least this.
    private static readonly long s_minimumSleep = Stopwatch.Frequency / 20_000;

    public static Task RunAsync<TRequest, TResponse>(ConnectionDriver<TRequest, TResponse>[] drivers, RunClock run) =>
        Task.Factory.StartNew(
            () => Run(drivers, run),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

    private static void Run<TRequest, TResponse>(ConnectionDriver<TRequest, TResponse>[] drivers, RunClock run)
    {
        Thread.CurrentThread.Name = "open-loop pacer";
        PreciseSleep.ReduceTimerSlack();
        while (true)
        {
            var now = Stopwatch.GetTimestamp();
            if (now >= run.End)
            {
                return;
            }

            var next = long.MaxValue;
            foreach (var driver in drivers)
            {
                next = Math.Min(next, driver.WriteDue(run, now, drivers.Length));
            }

            foreach (var driver in drivers)
            {
                driver.FlushWritten();
            }

            if (next == long.MaxValue)
            {
                return;
            }

            PreciseSleep.Until(Math.Min(run.End, Math.Max(next, now + s_minimumSleep)));
        }
    }
}

/// <summary>Sleeping until a <see cref="Stopwatch"/> timestamp with better than the thread pool timer's millisecond.</summary>
internal static partial class PreciseSleep
{
    private const int ClockMonotonic = 1;
    private const int TimerAbsoluteTime = 1;
    private const int SetTimerSlack = 29;

    /// <summary>On Linux, asks for wake-ups within a microsecond of the requested time for the calling thread.</summary>
    public static void ReduceTimerSlack()
    {
        if (OperatingSystem.IsLinux())
        {
            _ = Prctl(SetTimerSlack, 1000, 0, 0, 0);
        }
    }

    public static void Until(long timestamp)
    {
        if (OperatingSystem.IsLinux() && Stopwatch.Frequency == 1_000_000_000)
        {
            // Stopwatch timestamps are CLOCK_MONOTONIC nanoseconds on Linux: sleep until that absolute time.
            var until = new TimeSpec { Seconds = timestamp / 1_000_000_000, Nanoseconds = timestamp % 1_000_000_000 };
            while (ClockNanosleep(ClockMonotonic, TimerAbsoluteTime, in until, IntPtr.Zero) == 4)
            {
                // EINTR: a signal arrived; sleep on.
            }

            return;
        }

        // Elsewhere: whole milliseconds, then yields for the rest.
        while (true)
        {
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
            if (left <= TimeSpan.Zero)
            {
                return;
            }

            Thread.Sleep(left >= TimeSpan.FromMilliseconds(2) ? 1 : 0);
        }
    }

    [LibraryImport("libc", EntryPoint = "clock_nanosleep")]
    private static partial int ClockNanosleep(int clock, int flags, in TimeSpec request, IntPtr remaining);

    [LibraryImport("libc", EntryPoint = "prctl")]
    private static partial int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
