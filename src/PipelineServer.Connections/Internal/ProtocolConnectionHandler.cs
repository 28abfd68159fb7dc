using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using PipelineServer.Diagnostics;
using PipelineServer.Protocols;

namespace PipelineServer.Internal;

// Runs one protocol on each connection: read a message, hand it to the handler, and flush the responses once per batch.
// The connection's top frame: it catches everything, logs each failure once, and never lets an exception reach the
// transport, so one bad connection cannot disturb the others or the host.
internal sealed class ProtocolConnectionHandler<TInbound, TOutbound>
{
    private readonly IMessageReader<TInbound> _reader;
    private readonly IMessageWriter<TOutbound> _writer;
    private readonly IMessageHandler<TInbound, TOutbound> _handler;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly PipelineServerMetrics _metrics;
    private readonly PeerFaultLog _faults;
    private readonly int _maxMessageSize;
    private readonly int _outputHighWaterMark;
    private readonly long? _maxBufferedOutput;
    private readonly bool _createScope;

    public ProtocolConnectionHandler(
        IMessageReader<TInbound> reader,
        IMessageWriter<TOutbound> writer,
        IMessageHandler<TInbound, TOutbound> handler,
        ProtocolOptions options,
        IServiceProvider services)
    {
        _reader = reader;
        _writer = writer;
        _handler = handler;
        _services = services;
        _maxMessageSize = options.MaxMessageSize;
        _outputHighWaterMark = options.OutputHighWaterMark;
        _maxBufferedOutput = options.MaxBufferedOutput;
        _createScope = options.CreateServiceScope;
        _metrics = PipelineServerMetrics.Get(services);
        _faults = PeerFaultLog.Get(services);
        _logger = (services.GetService<ILoggerFactory>() ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger(Log.CategoryName);
    }

    // How long a drained connection's input is discarded before the close (see LingerAsync).
    internal static readonly TimeSpan DrainLinger = TimeSpan.FromSeconds(1);

    public async Task OnConnectedAsync(ConnectionContext connection)
    {
        var transport = connection.Transport;
        var input = transport.Input;
        var protocolReader = new ProtocolReader(input, _maxMessageSize);
        var protocolWriter = new ProtocolWriter(transport.Output, _outputHighWaterMark, _maxBufferedOutput);
        if (_maxBufferedOutput is not null)
        {
            // Whichever thread's write overflows, the connection goes at once: its peer is not taking what it is sent.
            protocolWriter.OnOverflow(static state => AbortForOverflow((ConnectionContext)state!), connection);
        }
        var scope = _createScope ? _services.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope() : default;
        var session = new ProtocolSession<TOutbound>(connection, input, protocolWriter, _writer, _createScope ? scope.ServiceProvider : _services);

        // Host shutdown: Kestrel asks every connection to close. Finish what has been received, flush, then close.
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        var registration = closeRequested.CanBeCanceled
            ? closeRequested.UnsafeRegister(static state => ((ProtocolSession<TOutbound>)state!).BeginDrain(), session)
            : default;

        var started = Stopwatch.GetTimestamp();
        _metrics.OpenedConnections.Add(1);
        _metrics.ActiveConnections.Add(1);
        var traffic = new TrafficCounters(_metrics, protocolReader, protocolWriter);
        Exception? error = null;
        string closeReason;
        try
        {
            await _handler.OnConnectedAsync(session).ConfigureAwait(false);
            await RunAsync(session, protocolReader, protocolWriter, traffic).ConfigureAwait(false);
            closeReason = session.IsDraining ? ConnectionCloseReason.Shutdown : ConnectionCloseReason.Clean;
            if (session.IsDraining)
            {
                await LingerAsync(input, connection.ConnectionClosed).ConfigureAwait(false);
            }
        }
        catch (ProtocolException ex)
        {
            error = ex;
            closeReason = ConnectionCloseReason.ProtocolError;
            _metrics.ProtocolErrors.Add(1, new KeyValuePair<string, object?>(PipelineServerMetrics.ErrorTypeTag, ex.Kind.ToString()));
            Log.ProtocolError(_logger, connection.ConnectionId, connection.RemoteEndPoint?.ToString(), ex.Kind, ex.Message);
            _faults.Report(PeerFault.ProtocolError);
            await ReportProtocolErrorAsync(session, ex).ConfigureAwait(false);
        }
        catch (TransportFaultException ex)
        {
            // The transport failed under the read (a corrupted TLS record, a renegotiation request): the peer's doing, not
            // the handler's, so logged like any peer fault rather than as a handler error.
            error = ex.InnerException;
            closeReason = ConnectionCloseReason.TransportError;
            Log.TransportError(_logger, connection.ConnectionId, connection.RemoteEndPoint?.ToString(), ex.InnerException!.Message);
            _faults.Report(PeerFault.TransportError);
        }
        catch (Exception ex) when (IsDisconnect(ex, connection))
        {
            // Resets and aborts are part of life on a network: logged quietly, so a mass disconnect cannot flood the log.
            error = ex;
            closeReason = ConnectionCloseReason.Reset;
            if (protocolWriter.Overflowed)
            {
                Log.OutputLimitExceeded(_logger, connection.ConnectionId, connection.RemoteEndPoint?.ToString(), _maxBufferedOutput ?? 0);
            }
            else
            {
                Log.ConnectionEndedAbruptly(_logger, connection.ConnectionId, ex.Message);
            }
        }
        catch (Exception ex)
        {
            error = ex;
            closeReason = ConnectionCloseReason.HandlerError;
            Log.HandlerError(_logger, connection.ConnectionId, ex);
            await TryFlushAsync(protocolWriter).ConfigureAwait(false);
        }
        finally
        {
            await registration.DisposeAsync().ConfigureAwait(false);

            // Later writes, from any thread, get ConnectionClosedException; buffered bytes still go out before the FIN.
            protocolWriter.Complete();
            await input.CompleteAsync().ConfigureAwait(false);

            try
            {
                await _handler.OnDisconnectedAsync(session, error).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.CallbackError(_logger, nameof(IMessageHandler<TInbound, TOutbound>.OnDisconnectedAsync), connection.ConnectionId, ex);
            }

            if (_createScope)
            {
                await scope.DisposeAsync().ConfigureAwait(false);
            }
        }

        // Middleware that ended the connection (a timeout, a rate limit) said why before aborting it.
        var recorded = ConnectionCloseReason.Get(connection);
        if (recorded is null)
        {
            // Outer middleware (lifecycle logging) reads it once the chain returns.
            ConnectionCloseReason.Set(connection, closeReason);
        }
        else
        {
            closeReason = recorded;
        }

        // Middleware that ended a connection counted its own reason (a timeout, a rate limit); these are the loop's.
        if (ReferenceEquals(closeReason, ConnectionCloseReason.Reset))
        {
            _faults.Report(PeerFault.Reset);
        }
        else if (ReferenceEquals(closeReason, ConnectionCloseReason.OutputOverflow))
        {
            _faults.Report(PeerFault.OutputOverflow);
        }

        traffic.Record(0);
        _metrics.PeakBufferedOutput.Record(protocolWriter.PeakBufferedBytes);
        _metrics.ActiveConnections.Add(-1);
        _metrics.ClosedConnections.Add(1, new KeyValuePair<string, object?>(PipelineServerMetrics.CloseReasonTag, closeReason));
        _metrics.ConnectionDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>(PipelineServerMetrics.CloseReasonTag, closeReason));
    }

    private async Task RunAsync(ProtocolSession<TOutbound> session, ProtocolReader reader, ProtocolWriter writer, TrafficCounters traffic)
    {
        var gate = session.Connection.Features.Get<IMessageGateFeature>();
        var closed = session.Connection.ConnectionClosed;
        var received = 0;

        // Close() stops before the next message; a drain stops only when nothing received is left.
        while (!session.CloseRequested)
        {
            if (!reader.TryRead(_reader, out var result))
            {
                // Nothing more is buffered: the batch is over, so its responses go out in one flush.
                traffic.Record(received);
                received = 0;
                await writer.FlushAsync().ConfigureAwait(false);
                if (session.IsClosing)
                {
                    // Close() or a drain: every message already received has been handled (for a drain) and answered.
                    if (session.IsDraining)
                    {
                        Log.ConnectionDrained(_logger, session.ConnectionId, reader.ConsumedBytes, writer.WrittenMessages);
                    }

                    break;
                }

                // Awaited here rather than through reader.ReadAsync: one resumed state machine per batch, not two.
                while (true)
                {
                    ReadResult readResult;
                    try
                    {
                        readResult = await reader.WaitForDataAsync().ConfigureAwait(false);
                    }
                    catch (Exception ex) when (!IsDisconnect(ex, session.Connection))
                    {
                        throw new TransportFaultException(ex);
                    }

                    if (reader.TryReadFrom(_reader, readResult, out result))
                    {
                        break;
                    }
                }
            }

            if (result.HasMessage)
            {
                try
                {
                    if (gate is not null)
                    {
                        var admitted = gate.WaitAsync(closed);
                        if (!admitted.IsCompletedSuccessfully)
                        {
                            // Held back (a rate limit) or refused: what the batch has answered so far goes out first.
                            await TryFlushAsync(writer).ConfigureAwait(false);
                        }

                        await admitted.ConfigureAwait(false);
                    }

                    received++;
                    if (_metrics.HandlerDuration.Enabled)
                    {
                        var start = Stopwatch.GetTimestamp();
                        await _handler.OnMessageAsync(session, result.Message).ConfigureAwait(false);
                        _metrics.HandlerDuration.Record(Stopwatch.GetElapsedTime(start).TotalSeconds);
                    }
                    else
                    {
                        await _handler.OnMessageAsync(session, result.Message).ConfigureAwait(false);
                    }
                }
                finally
                {
                    reader.Advance();
                }

                if (!writer.IsWritable)
                {
                    // Past the high-water mark: no further message is read until the transport has taken the output, so a
                    // peer that sends and never reads holds the server back instead of growing its memory.
                    await writer.FlushAsync().ConfigureAwait(false);
                }
            }
            else if (result.IsCompleted)
            {
                break;
            }

            // A cancelled read (Close() or a drain) loops back: buffered messages are still handled before the stop.
        }

        traffic.Record(received);
        await writer.FlushAsync().ConfigureAwait(false);
    }

    // After a drain, before the close: a socket closed with unread input sends a reset, and a reset makes the peer's
    // kernel drop what it has received and not yet handed to the peer, which can be the last responses, or the end of
    // one. So the peer's further requests (which arrive as answers free its pipeline) are read and discarded until it
    // closes its side or a short linger runs out, and the close finds no unread input. A peer that sends without limit
    // and never stops can still get a reset (a client with a bounded pipeline, as clients have, cannot).
    private static async Task LingerAsync(PipeReader input, CancellationToken closed)
    {
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(closed);
        linger.CancelAfter(DrainLinger);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(linger.Token).ConfigureAwait(false);
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ConnectionResetException or ConnectionAbortedException or IOException)
        {
        }
    }

    private async Task ReportProtocolErrorAsync(ProtocolSession<TOutbound> session, ProtocolException error)
    {
        try
        {
            // Responses to the messages before the bad one were accepted work: send them first.
            await session.Writer.FlushAsync().ConfigureAwait(false);
            await _handler.OnProtocolErrorAsync(session, error).ConfigureAwait(false);
            await session.Writer.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (IsDisconnect(ex, session.Connection))
        {
        }
        catch (Exception ex)
        {
            Log.CallbackError(_logger, nameof(IMessageHandler<TInbound, TOutbound>.OnProtocolErrorAsync), session.ConnectionId, ex);
        }
    }

    private static async Task TryFlushAsync(ProtocolWriter writer)
    {
        try
        {
            await writer.FlushAsync().ConfigureAwait(false);
        }
        catch (ConnectionClosedException)
        {
        }
    }

    private static void AbortForOverflow(ConnectionContext connection)
    {
        ConnectionCloseReason.Set(connection, ConnectionCloseReason.OutputOverflow);
        connection.Abort(new ConnectionAbortedException("The connection held more output than the peer had taken, past the limit."));
    }

    // A failure of the transport under the loop's read, told apart from a handler's failure.
    private sealed class TransportFaultException(Exception inner) : Exception(inner.Message, inner);

    private static bool IsDisconnect(Exception ex, ConnectionContext connection) =>
        ex is ConnectionResetException or ConnectionAbortedException or ConnectionClosedException
        || (ex is OperationCanceledException && connection.ConnectionClosed.IsCancellationRequested)
        || (ex is IOException && connection.ConnectionClosed.IsCancellationRequested);

    // Traffic is added to the meter once per batch, as deltas of the reader's and writer's running totals, so a
    // pipelined batch costs four counter updates however many messages it holds.
    private sealed class TrafficCounters(PipelineServerMetrics metrics, ProtocolReader reader, ProtocolWriter writer)
    {
        private long _bytesIn;
        private long _messagesOut;
        private long _bytesOut;

        public void Record(int messagesIn)
        {
            if (messagesIn > 0)
            {
                metrics.ReceivedMessages.Add(messagesIn);
            }

            var bytesIn = reader.ConsumedBytes;
            if (bytesIn != _bytesIn)
            {
                metrics.ReceivedBytes.Add(bytesIn - _bytesIn);
                _bytesIn = bytesIn;
            }

            var messagesOut = writer.WrittenMessages;
            if (messagesOut != _messagesOut)
            {
                metrics.SentMessages.Add(messagesOut - _messagesOut);
                metrics.SentBytes.Add(writer.WrittenBytes - _bytesOut);
                _messagesOut = messagesOut;
                _bytesOut = writer.WrittenBytes;
            }
        }
    }
}
