using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PipelineServer.Internal;

namespace PipelineServer.Diagnostics;

// What a peer did that ended its connection (a protocol error, a reset, a timeout, a limit).
internal enum PeerFault
{
    ProtocolError,
    Reset,
    TransportError,
    IdleTimeout,
    FirstMessageTimeout,
    SlowMessageTimeout,
    WriteTimeout,
    RateLimit,
    ProxyProtocol,
    IpLimit,
    OutputOverflow,
}

// Peers' faults are logged per connection at Debug only, so that no peer can flood the log or make the connection
// path wait for a slow log sink; this counts them, and one Warning a period (at most) summarises the counts by kind.
// The Warning is written from a timer, never from a connection's path. One instance per logger factory (per host).
internal sealed class PeerFaultLog
{
    // How often, at most, the summary is written.
    internal static readonly TimeSpan Period = TimeSpan.FromSeconds(10);

    private static readonly ConditionalWeakTable<ILoggerFactory, PeerFaultLog> s_byFactory = new();
    private static readonly string[] s_names =
    [
        ConnectionCloseReason.ProtocolError,
        ConnectionCloseReason.Reset,
        ConnectionCloseReason.TransportError,
        ConnectionCloseReason.IdleTimeout,
        ConnectionCloseReason.FirstMessageTimeout,
        ConnectionCloseReason.SlowMessageTimeout,
        ConnectionCloseReason.WriteTimeout,
        ConnectionCloseReason.RateLimit,
        "proxy_protocol",
        "ip_limit",
        ConnectionCloseReason.OutputOverflow,
    ];

    private readonly long[] _counts = new long[s_names.Length];
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    // When the period being counted began: at the first fault after a summary.
    private long _since;
    private int _scheduled;

    private PeerFaultLog(ILogger logger, TimeProvider time)
    {
        _logger = logger;
        _time = time;
        _timer = time.CreateTimer(static state => ((PeerFaultLog)state!).WriteSummary(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public ILogger Logger => _logger;

    public static PeerFaultLog Get(IServiceProvider? services)
    {
        var factory = services?.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var time = services?.GetService<TimeProvider>() ?? TimeProvider.System;
        return s_byFactory.GetValue(factory, f => new PeerFaultLog(f.CreateLogger(Log.CategoryName), time));
    }

    // Counts one fault; the summary that includes it is written within a period. An interlocked increment and, for the
    // first fault of a period, arming a timer: no logging here.
    public void Report(PeerFault fault)
    {
        Interlocked.Increment(ref _counts[(int)fault]);
        if (Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0)
        {
            Arm();
        }
    }

    private void Arm()
    {
        Volatile.Write(ref _since, _time.GetTimestamp());
        _timer.Change(Period, Timeout.InfiniteTimeSpan);
    }

    private void WriteSummary()
    {
        var seconds = (long)Math.Round(_time.GetElapsedTime(Volatile.Read(ref _since)).TotalSeconds);
        var summary = new StringBuilder();
        long total = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            var count = Interlocked.Exchange(ref _counts[i], 0);
            if (count > 0)
            {
                total += count;
                summary.Append(summary.Length == 0 ? null : ", ").Append(s_names[i]).Append(' ').Append(count);
            }
        }

        if (total > 0)
        {
            Log.PeerFaults(_logger, total, seconds, summary.ToString());
        }

        // Faults counted after the counts were taken, but before this, armed nothing: arm for them now.
        Volatile.Write(ref _scheduled, 0);
        for (var i = 0; i < _counts.Length; i++)
        {
            if (Volatile.Read(ref _counts[i]) > 0)
            {
                if (Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0)
                {
                    Arm();
                }

                break;
            }
        }
    }
}
