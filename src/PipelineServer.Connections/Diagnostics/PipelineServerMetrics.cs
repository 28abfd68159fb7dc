using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;

namespace PipelineServer.Diagnostics;

// The "PipelineServer" meter. Names follow OpenTelemetry's conventions and Kestrel's own meter
// ("kestrel.active_connections", "kestrel.rejected_connections", ...), which keeps reporting beside this one.
// One instance per IMeterFactory (per host), so hosts in one process (tests) do not mix their figures.
internal sealed class PipelineServerMetrics
{
    public const string MeterName = "PipelineServer";
    public const string CloseReasonTag = "pipelineserver.close.reason";
    public const string RejectionReasonTag = "pipelineserver.rejection.reason";
    public const string ErrorTypeTag = "error.type";

    private static readonly ConditionalWeakTable<IMeterFactory, PipelineServerMetrics> s_byFactory = new();
    private static readonly Lazy<PipelineServerMetrics> s_default = new(static () => new PipelineServerMetrics(new Meter(MeterName)));

    public PipelineServerMetrics(Meter meter)
    {
        ActiveConnections = meter.CreateUpDownCounter<long>("pipelineserver.active_connections", "{connection}", "Connections currently running a protocol.");
        OpenedConnections = meter.CreateCounter<long>("pipelineserver.opened_connections", "{connection}", "Connections that started running a protocol.");
        RejectedConnections = meter.CreateCounter<long>("pipelineserver.rejected_connections", "{connection}", "Connections refused before the protocol ran (per-IP limit, PROXY header, file-descriptor budget, ...). Kestrel's global limit is counted by kestrel.rejected_connections.");
        ClosedConnections = meter.CreateCounter<long>("pipelineserver.closed_connections", "{connection}", "Connections that ended, by reason.");
        ConnectionDuration = meter.CreateHistogram<double>("pipelineserver.connection.duration", "s", "How long connections ran the protocol.");
        ReceivedMessages = meter.CreateCounter<long>("pipelineserver.received_messages", "{message}", "Messages parsed from connections and handed to handlers.");
        SentMessages = meter.CreateCounter<long>("pipelineserver.sent_messages", "{message}", "Messages written to connections.");
        ReceivedBytes = meter.CreateCounter<long>("pipelineserver.received_bytes", "By", "Bytes consumed by the protocol reader.");
        SentBytes = meter.CreateCounter<long>("pipelineserver.sent_bytes", "By", "Bytes of messages written to connections.");
        ProtocolErrors = meter.CreateCounter<long>("pipelineserver.protocol_errors", "{error}", "Protocol violations by peers (each closes its connection).");
        HandlerDuration = meter.CreateHistogram<double>("pipelineserver.handler.duration", "s", "Time a handler took over one message.");
        PeakBufferedOutput = meter.CreateHistogram<long>("pipelineserver.connection.output.peak_buffered", "By", "The most output bytes a connection held written and not yet taken by the transport, recorded when it ends.");
    }

    public UpDownCounter<long> ActiveConnections { get; }

    public Counter<long> OpenedConnections { get; }

    public Counter<long> RejectedConnections { get; }

    public Counter<long> ClosedConnections { get; }

    public Histogram<double> ConnectionDuration { get; }

    public Counter<long> ReceivedMessages { get; }

    public Counter<long> SentMessages { get; }

    public Counter<long> ReceivedBytes { get; }

    public Counter<long> SentBytes { get; }

    public Counter<long> ProtocolErrors { get; }

    public Histogram<double> HandlerDuration { get; }

    public Histogram<long> PeakBufferedOutput { get; }

    public static PipelineServerMetrics Get(IServiceProvider? services)
    {
        var factory = services?.GetService<IMeterFactory>();
        return factory is null
            ? s_default.Value
            : s_byFactory.GetValue(factory, static f => new PipelineServerMetrics(f.Create(MeterName)));
    }

    public void Rejected(string reason) =>
        RejectedConnections.Add(1, new KeyValuePair<string, object?>(RejectionReasonTag, reason));
}
