using System.Collections.Concurrent;
using HdrHistogram;

namespace PipelineServer.LoadTest.Engine;

/// <summary>
/// Records latencies from many threads with no shared state and no atomic operation per value: each thread records
/// into its own plain histogram, found through a thread-static slot. Every thread has two histograms; each tick the
/// reader makes the other one active and reads the one retired a tick earlier, which no writer can still be touching.
/// Intervals therefore arrive one tick late; the final read, once every writer has stopped, takes everything.
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
            var slot = new Slot(highestTrackableValue).Initialised();
            _slots.Add(slot);
            current = (this, slot);
            t_current = current;
        }

        current.Slot!.Active.RecordValueWithCount(value, count);
    }

    /// <summary>Swaps every thread's histograms and adds what was retired at the previous tick to <paramref name="interval"/>.</summary>
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

    /// <summary>Everything not yet returned by <see cref="Tick"/>; call once the writers have stopped.</summary>
    public HistogramBase Drain()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var rest = new LongHistogram(highestTrackableValue, 3) { StartTimeStamp = _lastTick, EndTimeStamp = now };
        _lastTick = now;
        foreach (var slot in _slots)
        {
            slot.Drain(rest);
        }

        return rest;
    }

    private sealed class Slot(long highestTrackableValue)
    {
        private readonly LongHistogram _first = new(highestTrackableValue, 3);
        private readonly LongHistogram _second = new(highestTrackableValue, 3);
        private LongHistogram? _retired;

        public LongHistogram Active { get; private set; } = null!;

        public void Rotate(HistogramBase into)
        {
            // The histogram retired a tick ago has had a whole tick for any write in progress to land.
            if (_retired is not null)
            {
                into.Add(_retired);
                _retired.Reset();
            }

            var active = Active;
            var next = ReferenceEquals(active, _first) ? _second : _first;
            Active = next;
            _retired = active;
        }

        public void Drain(HistogramBase into)
        {
            if (_retired is not null)
            {
                into.Add(_retired);
                _retired.Reset();
            }

            into.Add(Active);
            Active.Reset();
        }

        public Slot Initialised()
        {
            Active = _first;
            return this;
        }
    }
}
