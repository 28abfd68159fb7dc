using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using PipelineServer.LoadTest.Scenarios;
using PipelineServer.Protocols;

namespace PipelineServer.LoadTest.Engine;

/// <summary>
/// Drives one connection with up to <c>pipeline</c> requests outstanding, with the protocol's own codecs over the
/// client library's connection: requests are written with the codec straight into the connection's pipe (one writer,
/// so no lock) and flushed once per batch, responses parsed by a <see cref="ProtocolReader"/> and verified in place (no
/// copy), in order, against the requests they answer. Closed loop: each response is followed by the next request. Open loop: a sender keeps to the schedule
/// and latency counts from each request's intended send time.
/// </summary>
internal sealed class ConnectionDriver<TRequest, TResponse>
{
    private readonly ConnectionContext _connection;
    private readonly int _index;
    private readonly IMessageReader<TResponse> _codec;
    private readonly IMessageWriter<TRequest> _requestWriter;
    private readonly IRequestSource<TRequest, TResponse> _source;
    private readonly ProtocolReader _reader;
    private readonly System.IO.Pipelines.PipeWriter _output;
    private readonly InFlight[] _inFlight;
    private long _sent;
    private long _received;
    private int _sendSlot;
    private int _receiveSlot;
    private long _pendingLatency;
    private long _pendingCount;
    private volatile bool _sendingDone;
    private volatile bool _failed;
    private long _nextScheduled;
    private bool _unflushed;
    private ValueTask<System.IO.Pipelines.FlushResult>? _pendingFlush;

    public ConnectionDriver(ConnectionContext connection, int index, int pipeline, int maxResponseSize, IMessageReader<TResponse> codec, IMessageWriter<TRequest> requestWriter, IRequestSource<TRequest, TResponse> source)
    {
        _connection = connection;
        _index = index;
        _codec = codec;
        _requestWriter = requestWriter;
        _source = source;
        _reader = new ProtocolReader(connection.Transport.Input, maxResponseSize);
        _output = connection.Transport.Output;
        _inFlight = new InFlight[pipeline];
    }

    public DriverCounters Counters { get; } = new();

    public async Task RunClosedLoopAsync(RunClock run, LatencyRecorder recorder, bool batch = false)
    {
        try
        {
            var now = Stopwatch.GetTimestamp();
            for (var i = 0; i < _inFlight.Length; i++)
            {
                Send(now);
            }

            await FlushAsync();
            while (_received < _sent)
            {
                if (!_reader.TryRead(_codec, out var result))
                {
                    // Everything received so far is answered: the requests it prompted leave in one flush.
                    RecordPending(recorder);
                    await FlushAsync();
                    result = await _reader.ReadAsync(_codec);

                    // Responses that arrived in one read arrived together: one timestamp serves the whole batch.
                    now = Stopwatch.GetTimestamp();
                }

                if (!result.HasMessage)
                {
                    ThrowIfEnded(result);
                    continue;
                }

                Receive(run, recorder, result.Message, now);
                if (now >= run.End)
                {
                    continue;
                }

                if (!batch)
                {
                    // The next request's send time is this response's arrival: it is written right away.
                    Send(now);
                }
                else if (_received == _sent)
                {
                    // Batches: the whole window is answered, so the next window goes out together.
                    for (var i = 0; i < _inFlight.Length; i++)
                    {
                        Send(now);
                    }
                }
            }
        }
        catch (Exception ex)
        {
            Counters.Fail(ex);
        }
        finally
        {
            RecordPending(recorder);
        }
    }

    /// <summary>
    /// Open loop, receiving side: responses are matched and timed as they come, until sending has finished (see
    /// <see cref="FinishSendingAsync"/>) and every request sent is answered. Requests are sent by the <see cref="OpenLoopPacer"/>.
    /// </summary>
    public async Task ReceiveOpenLoopAsync(RunClock run, LatencyRecorder recorder)
    {
        try
        {
            while (!_sendingDone || _received < Volatile.Read(ref _sent))
            {
                var result = await _reader.ReadAsync(_codec);
                if (!result.HasMessage)
                {
                    ThrowIfEnded(result);
                    continue;
                }

                Receive(run, recorder, result.Message, Stopwatch.GetTimestamp());
                RecordPending(recorder);
            }
        }
        catch (Exception ex)
        {
            Counters.Fail(ex);
            _failed = true;
        }
    }

    /// <summary>
    /// Open loop, sending side (the pacer's thread only): writes this connection's requests that are due by
    /// <paramref name="now"/>, each stamped with the time it was due, while fewer than <c>pipeline</c> are outstanding.
    /// Does not flush.
    /// </summary>
    /// <returns>When this connection's next request falls due: not after <paramref name="now"/> when the window is full, <see cref="long.MaxValue"/> when the run is over or the connection failed.</returns>
    public long WriteDue(RunClock run, long now, int connections)
    {
        if (_failed || !CompletePendingFlush())
        {
            return _failed ? long.MaxValue : now;
        }

        while (true)
        {
            var intended = run.ScheduledSend(_index, _nextScheduled, connections);
            if (intended >= run.End)
            {
                return long.MaxValue;
            }

            if (intended > now || _sent - Volatile.Read(ref _received) >= _inFlight.Length)
            {
                // Not yet due, or held back by a full window: the wait still counts, from the intended time.
                return intended;
            }

            Send(intended);
            _nextScheduled++;
            _unflushed = true;
        }
    }

    /// <summary>Open loop: flushes what <see cref="WriteDue"/> wrote, without blocking the pacer on a full pipe.</summary>
    public void FlushWritten()
    {
        if (!_unflushed || _failed)
        {
            return;
        }

        _unflushed = false;
        _pendingFlush = _output.FlushAsync();
        CompletePendingFlush();
    }

    /// <summary>Open loop: the run is over; waits for the last flush and lets the receiving side finish.</summary>
    public async Task FinishSendingAsync()
    {
        try
        {
            if (_pendingFlush is { } flush)
            {
                _pendingFlush = null;
                await flush;
            }
        }
        catch (Exception ex)
        {
            Counters.Fail(ex);
        }
        finally
        {
            _sendingDone = true;
            _connection.Transport.Input.CancelPendingRead();
        }
    }

    // True when no flush is outstanding.
    private bool CompletePendingFlush()
    {
        if (_pendingFlush is not { } flush)
        {
            return true;
        }

        if (!flush.IsCompleted)
        {
            return false;
        }

        _pendingFlush = null;
        try
        {
            if (flush.GetAwaiter().GetResult().IsCompleted)
            {
                throw new IOException("The server stopped reading.");
            }
        }
        catch (Exception ex)
        {
            Counters.Fail(ex);
            _failed = true;
            return false;
        }

        return true;
    }

    private void Send(long intended)
    {
        var request = _source.Next(_index, _sent, out var bytes);
        ref var slot = ref _inFlight[_sendSlot];
        _sendSlot = _sendSlot + 1 == _inFlight.Length ? 0 : _sendSlot + 1;
        slot.Request = request;
        slot.Intended = intended;
        slot.Bytes = bytes;
        _requestWriter.WriteMessage(request, _output);
        Volatile.Write(ref _sent, _sent + 1);
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FlushAsync()
    {
        if ((await _output.FlushAsync()).IsCompleted)
        {
            throw new IOException("The server stopped reading.");
        }
    }

    private void Receive(RunClock run, LatencyRecorder recorder, TResponse response, long completed)
    {
        ref var slot = ref _inFlight[_receiveSlot];
        _receiveSlot = _receiveSlot + 1 == _inFlight.Length ? 0 : _receiveSlot + 1;
        var matches = _source.Verify(slot.Request, response, out var responseBytes);
        _reader.Advance();
        _received++;
        Counters.Completed++;

        if (!matches)
        {
            Counters.Mismatches++;
        }

        if (completed > run.MeasureStart && completed <= run.End)
        {
            if (matches)
            {
                Counters.Requests++;
                Counters.Bytes += slot.Bytes + responseBytes;
            }

            if (slot.Intended >= run.MeasureStart)
            {
                // Requests sent together and answered together have equal latencies: runs of them are recorded at once.
                var latency = Math.Max(1, run.ToNanos(completed - slot.Intended));
                if (latency != _pendingLatency)
                {
                    RecordPending(recorder);
                    _pendingLatency = latency;
                }

                _pendingCount++;
            }
        }
    }

    private void RecordPending(LatencyRecorder recorder)
    {
        if (_pendingCount > 0)
        {
            recorder.RecordValue(_pendingLatency, _pendingCount);
            _pendingCount = 0;
        }
    }

    private void ThrowIfEnded(in ProtocolReadResult<TResponse> result)
    {
        if (result.IsCompleted)
        {
            throw new IOException($"The server closed the connection with {Volatile.Read(ref _sent) - _received} requests unanswered.");
        }

        if (_sendingDone && _received >= Volatile.Read(ref _sent))
        {
            return;
        }
    }

    private struct InFlight
    {
        public TRequest Request;
        public long Intended;
        public int Bytes;
    }
}

/// <summary>A driver's counts: written by its connection's loop, read (racily, for progress) by the monitor.</summary>
internal sealed class DriverCounters
{
    /// <summary>Verified responses inside the measured window.</summary>
    public long Requests;

    /// <summary>Every response, warmup included: the progress line's rate.</summary>
    public long Completed;

    public long Errors;
    public long Mismatches;
    public long Bytes;

    public string? FirstError { get; private set; }

    public void Fail(Exception exception)
    {
        Interlocked.Increment(ref Errors);
        FirstError ??= $"{exception.GetType().Name}: {exception.Message}";
    }
}

/// <summary>The run's timeline, in Stopwatch ticks: warmup, then the measured window, then the end.</summary>
internal sealed class RunClock
{
    private readonly double _interval;

    public RunClock(Cli.LoadOptions options)
    {
        Start = Stopwatch.GetTimestamp();
        MeasureStart = Start + (long)(options.Warmup.TotalSeconds * Stopwatch.Frequency);
        End = MeasureStart + (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
        if (options.Rate is { } rate)
        {
            _interval = Stopwatch.Frequency / rate;
        }
    }

    public long Start { get; }

    public long MeasureStart { get; }

    public long End { get; }

    public bool IsOpenLoop => _interval > 0;

    /// <summary>Open loop: the intended send time of a connection's <paramref name="k"/>th request (connections interleaved evenly).</summary>
    public long ScheduledSend(int connection, long k, int connections) => Start + (long)(((k * connections) + connection) * _interval);

    public long ToNanos(long ticks) => (long)(ticks * (1_000_000_000.0 / Stopwatch.Frequency));
}
