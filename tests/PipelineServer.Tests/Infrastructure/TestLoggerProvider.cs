using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace PipelineServer.Tests.Infrastructure;

public sealed record LogRecord(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);

/// <summary>Captures log records, and lets a test wait for one (an event, not a sleep).</summary>
public sealed class TestLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<LogRecord> _records = new();
    private readonly List<(Func<LogRecord, bool> Match, TaskCompletionSource<LogRecord> Signal)> _waiters = [];
    private readonly Lock _sync = new();

    public IReadOnlyCollection<LogRecord> Records => _records;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public async Task<LogRecord> WaitForAsync(Func<LogRecord, bool> match, TimeSpan? timeout = null)
    {
        var signal = new TaskCompletionSource<LogRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_sync)
        {
            foreach (var record in _records)
            {
                if (match(record))
                {
                    return record;
                }
            }

            _waiters.Add((match, signal));
        }

        return await signal.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(15));
    }

    public Task<LogRecord> WaitForEventAsync(string eventName, TimeSpan? timeout = null) =>
        WaitForAsync(r => r.EventId.Name == eventName, timeout);

    public void Dispose()
    {
    }

    private void Add(LogRecord record)
    {
        lock (_sync)
        {
            _records.Enqueue(record);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(record))
                {
                    _waiters[i].Signal.TrySetResult(record);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    private sealed class Logger(TestLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            provider.Add(new LogRecord(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
