using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
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
    private readonly int _maxMessageSize;
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
        _createScope = options.CreateServiceScope;
        _logger = (services.GetService<ILoggerFactory>() ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger(Log.CategoryName);
    }

    public async Task OnConnectedAsync(ConnectionContext connection)
    {
        var transport = connection.Transport;
        var input = transport.Input;
        var protocolReader = new ProtocolReader(input, _maxMessageSize);
        var protocolWriter = new ProtocolWriter(transport.Output);
        var scope = _createScope ? _services.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope() : default;
        var session = new ProtocolSession<TOutbound>(connection, input, protocolWriter, _writer, _createScope ? scope.ServiceProvider : _services);

        // Host shutdown: Kestrel asks every connection to close. Finish what has been received, flush, then close.
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        var registration = closeRequested.CanBeCanceled
            ? closeRequested.UnsafeRegister(static state => ((ProtocolSession<TOutbound>)state!).BeginDrain(), session)
            : default;

        Exception? error = null;
        try
        {
            await _handler.OnConnectedAsync(session).ConfigureAwait(false);
            await RunAsync(session, protocolReader, protocolWriter).ConfigureAwait(false);
        }
        catch (ProtocolException ex)
        {
            error = ex;
            Log.ProtocolError(_logger, connection.ConnectionId, connection.RemoteEndPoint?.ToString(), ex.Kind, ex.Message);
            await ReportProtocolErrorAsync(session, ex).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsDisconnect(ex, connection))
        {
            // Resets and aborts are part of life on a network: logged quietly, so a mass disconnect cannot flood the log.
            error = ex;
            Log.ConnectionEndedAbruptly(_logger, connection.ConnectionId, ex.Message);
        }
        catch (Exception ex)
        {
            error = ex;
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
    }

    private async Task RunAsync(ProtocolSession<TOutbound> session, ProtocolReader reader, ProtocolWriter writer)
    {
        // Close() stops before the next message; a drain stops only when nothing received is left.
        while (!session.CloseRequested)
        {
            if (!reader.TryRead(_reader, out var result))
            {
                // Nothing more is buffered: the batch is over, so its responses go out in one flush.
                await writer.FlushAsync().ConfigureAwait(false);
                if (session.IsClosing)
                {
                    // Close() or a drain: every message already received has been handled (for a drain) and answered.
                    if (session.IsDraining)
                    {
                        Log.ConnectionDrained(_logger, session.ConnectionId);
                    }

                    break;
                }

                result = await reader.ReadAsync(_reader).ConfigureAwait(false);
            }

            if (result.HasMessage)
            {
                try
                {
                    await _handler.OnMessageAsync(session, result.Message).ConfigureAwait(false);
                }
                finally
                {
                    reader.Advance();
                }
            }
            else if (result.IsCompleted)
            {
                break;
            }

            // A cancelled read (Close() or a drain) loops back: buffered messages are still handled before the stop.
        }

        await writer.FlushAsync().ConfigureAwait(false);
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

    private static bool IsDisconnect(Exception ex, ConnectionContext connection) =>
        ex is ConnectionResetException or ConnectionAbortedException or ConnectionClosedException
        || (ex is OperationCanceledException && connection.ConnectionClosed.IsCancellationRequested)
        || (ex is IOException && connection.ConnectionClosed.IsCancellationRequested);
}
