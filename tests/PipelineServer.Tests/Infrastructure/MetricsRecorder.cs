using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace PipelineServer.Tests.Infrastructure;

/// <summary>
/// Listens, with a <see cref="MeterListener"/>, to the "PipelineServer" meter of one host (the meter its IMeterFactory
/// created), so tests running in parallel do not see each other's figures.
/// </summary>
public sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly object _sync = new();
    private readonly Dictionary<string, long> _totals = [];
    private readonly Dictionary<string, long> _maxima = [];
    private readonly List<(string Key, long Target, TaskCompletionSource Done)> _waiters = [];

    public MetricsRecorder(IServiceProvider services)
    {
        var factory = services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "PipelineServer" && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument.Name, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) => Add(instrument.Name, 1, tags));
        _listener.Start();
    }

    /// <summary>The sum of an instrument's measurements (for histograms: how many), optionally only those with one tag value.</summary>
    public long Total(string instrument, string? tagValue = null)
    {
        lock (_sync)
        {
            return _totals.GetValueOrDefault(Key(instrument, tagValue));
        }
    }

    /// <summary>The largest single measurement of an instrument so far (0 when none).</summary>
    public long Max(string instrument)
    {
        lock (_sync)
        {
            return _maxima.GetValueOrDefault(instrument);
        }
    }

    public Task WaitForAsync(string instrument, long atLeast, string? tagValue = null)
    {
        lock (_sync)
        {
            var key = Key(instrument, tagValue);
            if (_totals.GetValueOrDefault(key) >= atLeast)
            {
                return Task.CompletedTask;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((key, atLeast, done));
            return done.Task.WaitAsync(TestClient.Timeout);
        }
    }

    public void Dispose() => _listener.Dispose();

    private static string Key(string instrument, string? tagValue) => tagValue is null ? instrument : instrument + "|" + tagValue;

    private void Add(string instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        lock (_sync)
        {
            _maxima[instrument] = Math.Max(_maxima.GetValueOrDefault(instrument), value);
            Bump(instrument, value);
            foreach (var tag in tags)
            {
                Bump(Key(instrument, tag.Value?.ToString()), value);
            }
        }
    }

    private void Bump(string key, long value)
    {
        var total = _totals.GetValueOrDefault(key) + value;
        _totals[key] = total;
        for (var i = _waiters.Count - 1; i >= 0; i--)
        {
            if (_waiters[i].Key == key && total >= _waiters[i].Target)
            {
                _waiters[i].Done.TrySetResult();
                _waiters.RemoveAt(i);
            }
        }
    }
}
