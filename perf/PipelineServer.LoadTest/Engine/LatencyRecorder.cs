using System.Collections.Concurrent;
using HdrHistogram;

namespace PipelineServer.LoadTest.Engine;

/// <summary>
/// Records latencies from many threads without contention: each thread records into its own pair of plain histograms,
/// found through a thread-static slot, and the reader swaps a thread's active histogram for the idle one before reading
/// it. A per-slot sequence number (odd while a write is in progress) tells the reader when the thread has finished any
/// write it began on the histogram just retired, so no value is lost or read twice.
/// </summary>
internal sealed class LatencyRecorder(long highestTrackableValue)
{
    [ThreadStatic]
    private static (LatencyRecorder? Owner, Slot? Slot) t_current;

    private readonly ConcurrentBag<Slot> _slots = [];
    private long _lastTick = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>Records <paramref name="count"/> occurrences of <paramref name="value"/>, on the calling thread's histogram.</summary>
    public void RecordValue(long value, long count)
    {
        var current = t_current;
        if (!ReferenceEquals(current.Owner, this))
        {
            var slot = new Slot(highestTrackableValue);
            _slots.Add(slot);
            current = (this, slot);
            t_current = current;
        }

        current.Slot!.Record(value, count);
    }

    /// <summary>Adds everything recorded since the previous tick to <paramref name="interval"/>, and stamps its time span.</summary>
    public void Tick(HistogramBase interval)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        interval.StartTimeStamp = _lastTick;
        interval.EndTimeStamp = now;
        _lastTick = now;
        foreach (var slot in _slots)
        {
            slot.Rotate(interval);
        }
    }

    /// <summary>Everything not yet returned by <see cref="Tick"/>, as a new histogram.</summary>
    public HistogramBase Drain()
    {
        var rest = new LongHistogram(highestTrackableValue, 3);
        Tick(rest);
        return rest;
    }

    private sealed class Slot(long highestTrackableValue)
    {
        private readonly LongHistogram _first = new(highestTrackableValue, 3);
        private readonly LongHistogram _second = new(highestTrackableValue, 3);
        private LongHistogram? _active;
        private long _sequence;

        // The owning thread only.
        public void Record(long value, long count)
        {
            Volatile.Write(ref _sequence, _sequence + 1);

            // The odd sequence must be visible before the active histogram is read (a store then a load: a full fence).
            Interlocked.MemoryBarrier();
            (Volatile.Read(ref _active) ?? _first).RecordValueWithCount(value, count);
            Volatile.Write(ref _sequence, _sequence + 1);
        }

        // The reader only.
        public void Rotate(HistogramBase into)
        {
            var retired = Volatile.Read(ref _active) ?? _first;
            Volatile.Write(ref _active, ReferenceEquals(retired, _first) ? _second : _first);
            Interlocked.MemoryBarrier();

            // A write in progress may have picked the retired histogram: wait for that one write to end. Later writes
            // see the swap.
            var sequence = Volatile.Read(ref _sequence);
            if ((sequence & 1) != 0)
            {
                var spin = default(SpinWait);
                while (Volatile.Read(ref _sequence) == sequence)
                {
                    spin.SpinOnce();
                }
            }

            into.Add(retired);
            retired.Reset();
        }
    }
}
